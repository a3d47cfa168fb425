"""A team dataset in a format none of the built-in suites use: GSM8K-style rows ``{"question", "answer"}`` with no
``gold`` field, the expert answer a short worked solution ending in ``#### N`` (the gate extracts N with the
``numeric`` verifier). The problems are shop-stock word problems: a shop has some items and receives more (add) or
sells some (subtract), with two-digit stock as in the toy's own word problems ("tom has 34 apples and gets 57 more"),
which the base half-solves in the new wording; train and test draw from disjoint (a, b) pairs.

Run it: ``python docs/results/shop-gsm/generate.py -o data/shop`` writes ``data/shop/train.jsonl`` (600 rows) and
``data/shop/test.jsonl`` (200 rows).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SHOPS = ("the shop", "the store", "the kiosk", "the stall", "the market")
ITEMS = ("mugs", "lamps", "socks", "plates", "combs", "brooms", "bowls")


def problem(rng: random.Random) -> tuple[str, str, int, int, str]:
    """(question, expert answer, a, b, op) of one problem."""
    shop, item = rng.choice(SHOPS), rng.choice(ITEMS)
    a = rng.randint(10, 99)  # two digits, as in the base's own word problems
    if rng.random() < 0.5:
        b = rng.randint(1, 99)
        question = f"{shop} has {a} {item} and gets {b} more. how many {item} now?"
        answer = (
            f"{shop.capitalize()} starts with {a} {item}. A delivery brings {b} more, so we add them.\n"
            f"{a} + {b} = {a + b}\n#### {a + b}"
        )
        return question, answer, a, b, "+"
    b = rng.randint(1, a - 1)
    question = f"{shop} has {a} {item} and sells {b}. how many {item} now?"
    answer = (
        f"{shop.capitalize()} starts with {a} {item} and sells {b} of them, so we subtract.\n"
        f"{a} - {b} = {a - b}\n#### {a - b}"
    )
    return question, answer, a, b, "-"


def rows(split: str, n: int, seed: int) -> list[dict[str, str]]:
    """``n`` rows of ``split``: a pair (a, b) belongs to test when (a * 31 + b) % 5 == 0, else to train."""
    rng = random.Random(f"{split}-{seed}")
    out: list[dict[str, str]] = []
    while len(out) < n:
        question, answer, a, b, _ = problem(rng)
        if ((a * 31 + b) % 5 == 0) == (split == "test"):
            out.append({"id": f"shop-{split}-{len(out)}", "question": question, "answer": answer})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("data/shop"))
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", args.train), ("test", args.test)):
        with (args.output / f"{split}.jsonl").open("w") as fh:
            for row in rows(split, n, args.seed):
                fh.write(json.dumps(row) + "\n")
        print(f"wrote {n} {split} rows to {args.output / f'{split}.jsonl'}")


if __name__ == "__main__":
    main()
