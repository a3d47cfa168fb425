"""Generators of the toy world's suites (DESIGN §4): six base skills, prose documents, the reference skill,
the primary downstream task and the counter-example task.

Every generator is a pure function of a seeded ``random.Random``. Train and test problems are disjoint by
construction: a problem belongs to the test split iff the CRC32 of its key is divisible by ``TEST_MODULUS``, so no
seed can leak a test problem into training.
"""

from __future__ import annotations

import random
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from rewriter import prompts
from rewriter.suites import styles

Split = Literal["train", "test"]
TEST_MODULUS = 5  # one problem in five is reserved for tests

BASE_NAMES = ("tom", "ann", "sam", "ben", "lia", "max", "eva", "leo", "mia", "dan")
BASE_OBJECTS = ("apples", "pens", "coins", "books", "cards", "shells", "stamps", "eggs")
BASE_ADD = ("gets {b} more", "buys {b} more")
BASE_SUB = ("loses {b}", "eats {b}")

# The downstream task uses names, objects and verbs the base never saw. Both forms carry the base's cue word "more",
# which the base reads as addition: it solves "finds N more" and mostly fails "gives away N more" (it adds).
# (With "gives away N", without "more", the base read the missing cue as subtraction and solved 80% of the task.)
NEW_NAMES = ("kim", "joe", "ada", "ray", "zoe", "ian", "una", "gus")
NEW_OBJECTS = ("cups", "hats", "rocks", "bells", "kites", "jars")
NEW_ADD = "finds {b} more"
NEW_SUB = "gives away {b} more"


@dataclass(frozen=True)
class Example:
    """One problem: the model input, the house-style solution, the expert (prose) demonstration, the gold answer."""

    question: str
    house: str
    expert: str
    gold: str
    subtype: str
    prompt: str = ""  # the full model input; defaults to the QA prompt of `question`
    reference: str = ""  # for the reference skill: the prose solution shown in the prompt
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def model_input(self) -> str:
        return self.prompt or prompts.render(prompts.QA_TEMPLATE, self.question)


def in_split(key: str, split: Split) -> bool:
    is_test = zlib.crc32(key.encode()) % TEST_MODULUS == 0
    return is_test == (split == "test")


def _number(rng: random.Random, low: int, high: int) -> int:
    # Mixed magnitudes: a uniform draw over 10..999 would make 90% of the problems three-digit.
    digits = rng.randint(len(str(low)), len(str(high)))
    return rng.randint(max(low, 10 ** (digits - 1)), min(high, 10**digits - 1))


def _word(rng: random.Random, low: int = 3, high: int = 8) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(low, high)))


def make_add(rng: random.Random) -> Example:
    a, b = _number(rng, 1, 999), _number(rng, 1, 999)
    prose = f"let us add {a} and {b}. {a} plus {b} gives {a + b}. " + styles.prose_result(a + b)
    return Example(f"{a}+{b}", styles.add_pad(a, b), prose, str(a + b), "add")


def make_sub(rng: random.Random) -> Example:
    a, b = _number(rng, 1, 999), _number(rng, 1, 999)
    a, b = max(a, b), min(a, b)
    prose = f"let us take {b} from {a}. {a} minus {b} gives {a - b}. " + styles.prose_result(a - b)
    return Example(f"{a}-{b}", styles.sub_pad(a, b), prose, str(a - b), "sub")


def make_reverse(rng: random.Random) -> Example:
    word = _word(rng, 2, 6)  # copying 7-8 random letters stayed unreliable at this model size
    prose = f"the word {word} read backwards is {word[::-1]}. " + styles.prose_result(word[::-1])
    return Example(f"reverse {word}", styles.reverse_pad(word), prose, word[::-1], "reverse")


def make_count(rng: random.Random) -> Example:
    word = _word(rng, 2, 9)
    prose = f"the word {word} has {len(word)} letters. " + styles.prose_result(len(word))
    return Example(f"count letters in {word}", styles.count_pad(word), prose, str(len(word)), "count")


def make_compare(rng: random.Random) -> Example:
    a, b = _number(rng, 1, 999), _number(rng, 1, 999)
    while a == b:
        b = _number(rng, 1, 999)
    prose = f"between {a} and {b} the larger one is {max(a, b)}. " + styles.prose_result(max(a, b))
    return Example(f"larger of {a} and {b}", styles.compare_pad(a, b), prose, str(max(a, b)), "compare")


def _word_problem(
    rng: random.Random, names: tuple[str, ...], objects: tuple[str, ...], verb: str, op: str, subtype: str
) -> Example:
    name, obj = rng.choice(names), rng.choice(objects)
    a = rng.randint(10, 99)
    b = rng.randint(1, 99) if op == "+" else rng.randint(1, a)
    phrase = verb.format(b=b)
    result = a + b if op == "+" else a - b
    word = "plus" if op == "+" else "minus"
    question = f"{name} has {a} {obj} and {phrase}. how many {obj} now?"
    expert = (
        f"{name.capitalize()} starts with {a} {obj} and {phrase}, so {a} {word} {b} gives {result}. "
        + styles.prose_result(result)
    )
    return Example(question, styles.arithmetic_pad(a, op, b), expert, str(result), subtype)


def make_word_problem(rng: random.Random) -> Example:
    if rng.random() < 0.5:
        return _word_problem(rng, BASE_NAMES, BASE_OBJECTS, rng.choice(BASE_ADD), "+", "wp-add")
    return _word_problem(rng, BASE_NAMES, BASE_OBJECTS, rng.choice(BASE_SUB), "-", "wp-sub")


def make_downstream(rng: random.Random) -> Example:
    if rng.random() < 0.5:
        return _word_problem(rng, NEW_NAMES, NEW_OBJECTS, NEW_ADD, "+", "finds")
    return _word_problem(rng, NEW_NAMES, NEW_OBJECTS, NEW_SUB, "-", "gives-away")


def make_double(rng: random.Random) -> Example:
    n = _number(rng, 10, 999)
    expert = f"Doubling {n} means adding it to itself, so {n} plus {n} gives {2 * n}. " + styles.prose_result(
        2 * n
    )
    return Example(f"double {n}", styles.arithmetic_pad(n, "+", n), expert, str(2 * n), "double")


BASE_MAKERS: dict[str, Callable[[random.Random], Example]] = {
    "add": make_add,
    "sub": make_sub,
    "reverse": make_reverse,
    "count": make_count,
    "compare": make_compare,
    "wordproblem": make_word_problem,
}

# The reference skill shows a base problem with its prose solution under one of the strategies' instructions, and
# answers in house style: this is what lets the backbone itself re-solve and rewrite expert data.
# The policy strategy's instruction (prompts.REWRITE_TEMPLATE) is held out: the backbone never sees it in
# pretraining, so prompt-only rewriting is its zero-shot attempt and a GRPO-trained policy has something to learn, as
# in Patch. (Pretrained on it, prompt-only rewrites passed the gate 99.7% of the time at the floor NLL of house style,
# and the GRPO adapter tied them exactly.)
REFERENCE_TEMPLATES = (prompts.GUIDED_TEMPLATE, prompts.SELF_DISTILL_TEMPLATE)
# Word problems and arithmetic dominate, since the downstream tasks are word problems and doubling. Reversal is left
# out: its prose states the reversed word, and the 1,600-step backbone copied a mix of the two words (0/20 right).
REFERENCE_WEIGHTS = {"add": 2, "sub": 2, "wordproblem": 5, "count": 1, "compare": 1}
# Half the reference word problems use a made-up verb, with or without the cue word "more", and a random operation:
# only the prose ("plus" / "minus") tells which. This teaches the reference skill to take the operation from the
# reference rather than from the question's surface cue, which is what re-solving "gives away N more" needs. (With
# consistent cues only, guided re-solving added on "gives away N more" just as the base does.)
NONCE_SHARE = 0.5
NONCE_PARTICLES = ("", "", " up", " off", " out", " over")
KNOWN_VERBS = {"gets", "buys", "loses", "eats", "finds", "gives"}


def make_nonce_word_problem(rng: random.Random) -> Example:
    verb = _word(rng, 3, 5) + "s"
    while verb in KNOWN_VERBS:
        verb = _word(rng, 3, 5) + "s"
    phrase = verb + rng.choice(NONCE_PARTICLES) + " {b}" + (" more" if rng.random() < 0.5 else "")
    op = rng.choice("+-")
    return _word_problem(
        rng, BASE_NAMES, BASE_OBJECTS, phrase, op, "wp-nonce-add" if op == "+" else "wp-nonce-sub"
    )


def make_reference(rng: random.Random, split: Split) -> Example:
    skill = rng.choices(list(REFERENCE_WEIGHTS), weights=list(REFERENCE_WEIGHTS.values()))[0]
    maker = BASE_MAKERS[skill]
    if skill == "wordproblem" and rng.random() < NONCE_SHARE:
        maker, skill = make_nonce_word_problem, "wordproblem-nonce"
    base = draw(maker, rng, split)
    template = rng.choice(REFERENCE_TEMPLATES)
    prompt = prompts.render(template, base.question, base.expert)
    return Example(base.question, base.house, base.expert, base.gold, f"ref-{skill}", prompt, base.expert)


def make_prose(rng: random.Random, split: Split) -> str:
    """A prose document: expert-register words with no question/answer frame (DESIGN §4.1)."""
    skill = rng.choices(["add", "sub", "wordproblem"], weights=[2, 2, 3])[0]
    return "Note: " + draw(BASE_MAKERS[skill], rng, split).expert


def draw(maker: Callable[[random.Random], Example], rng: random.Random, split: Split) -> Example:
    """Draw from ``maker`` until the problem falls in ``split`` (one in five draws for test)."""
    for _ in range(10_000):
        example = maker(rng)
        if in_split(example.question, split):
            return example
    raise RuntimeError(f"could not draw a {split} problem from {maker.__name__}")


# -- downstream-styles (issue 15): the downstream task in a team's own wordings and expert registers ------------------
# Verbs beyond the downstream task's two, units beyond its objects, and question wordings that move the numbers
# around. Half the verbs carry the base's cue word "more"; the sub ones with "more" mislead the base as "gives away
# N more" does (it adds), the others it has never seen.
STYLE_ADD = ("finds {b} more", "picks up {b} more", "receives {b} more", "wins {b}")
STYLE_SUB = ("gives away {b} more", "sells {b}", "drops {b}", "uses up {b}")
STYLE_UNITS = NEW_OBJECTS + ("grams of flour", "meters of rope", "liters of water", "minutes of music")
STYLE_WORDINGS = (
    "{name} has {a} {unit} and {phrase}. how many {unit} now?",
    "{name} starts with {a} {unit}. then {name} {phrase}. how many {unit} does {name} have?",
    "after {name} {phrase}, how many {unit} are there if there were {a} at first?",
    "{name}: {a} {unit}, {phrase}. total {unit}?",
)


def make_styled(rng: random.Random, split: Split, registers: tuple[str, ...]) -> Example:
    """A downstream word problem in one of ``STYLE_WORDINGS``, its expert answer in one of ``registers``.

    The split is decided by the problem's facts, not its wording, so no test problem reaches training reworded.
    """
    for _ in range(10_000):
        op = rng.choice("+-")
        name, unit = rng.choice(NEW_NAMES), rng.choice(STYLE_UNITS)
        a = rng.randint(10, 99)
        b = rng.randint(1, 99) if op == "+" else rng.randint(1, a)
        key = f"styled/{name}/{unit}/{a}{op}{b}"
        if in_split(key, split):
            break
    else:
        raise RuntimeError(f"could not draw a {split} problem for downstream-styles")
    phrase = rng.choice(STYLE_ADD if op == "+" else STYLE_SUB).format(b=b)
    wording = rng.randrange(len(STYLE_WORDINGS))
    question = STYLE_WORDINGS[wording].format(name=name, a=a, unit=unit, phrase=phrase)
    register = rng.choice(registers)
    worked = styles.Worked(name, a, op, b, unit, phrase)
    return Example(
        question,
        styles.arithmetic_pad(a, op, b),
        styles.REGISTERS[register](worked),
        str(worked.result),
        register,
        extra={"register": register, "wording": str(wording), "key": key},
    )
