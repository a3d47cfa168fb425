"""The whole flow on models shaped like real ones (tests/real_models.py: Qwen2 with ChatML and a system prompt,
Llama-3 with its headers, byte-level BPE): upload (validate) → rewrite → score → SFT → eval.

A random model solves nothing, so it is first primed by a short QA SFT to end its answers as ``#### N`` + EOS;
the gate is a regex on ``####``, so some rows are rewritten (the model's answer) and the rest, whose gold has no
``####``, fall back to their expert target. The assertions are about token shapes and bookkeeping:

1. the tokens ``score`` rates are exactly the tokens SFT trains on, for targets whose first characters BPE merges
   with the end of the prompt (QA and chat conditioning);
2. on multi-turn ``messages`` rows only the final assistant turn changes; the system prompt and earlier turns are
   byte-identical in the output file;
3. SFT's labels cover the final assistant turn only, through the template: its content and end-of-turn token, as
   the template's own ``{% generation %}`` markers say (-100 on the system prompt, user turns, earlier replies).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from rewriter import formats, pipeline
from rewriter.engines.base import common_prefix
from rewriter.engines.hf import HFEngine
from rewriter.evaluation import evaluate
from rewriter.records import Row
from rewriter.specs import StrategySpec
from rewriter.suites import get_suite
from tests.real_models import FAMILIES, build
from training.hooks import TrainingHooks
from training.sft import SFTSpec, train_sft

pytestmark = pytest.mark.usefixtures("one_thread")
IGNORE = -100
SYSTEM = 'Answer like a teacher: ünïcode ✓, "quotes" and a\ttab.'


class Capture(TrainerCallback):
    """The rows exactly as the trainer feeds them (after TRL's preparation): input ids and labels."""

    rows: list[dict[str, list[int]]]

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        dataset = kwargs["train_dataloader"].dataset
        self.rows = [{"input_ids": list(r["input_ids"]), "labels": list(r["labels"])} for r in dataset]


def sft(data: Path | list[Row], model: Path, out: Path, **spec: Any) -> list[dict[str, list[int]]]:
    capture = Capture()
    train_sft(
        data, model, out, SFTSpec(**{"steps": 1, "batch_size": 8, **spec}), TrainingHooks(extra=[capture])
    )
    return capture.rows


def priming_rows() -> list[Row]:
    """QA rows whose answers start with newlines: after the QA prompt's final newline, BPE merges across the
    boundary (the prompt alone ends in one newline token, prompt + answer in a merged one)."""
    return [Row(f"p{i}", f"{i} plus {i % 7}", f"\n\n#### {i + i % 7}") for i in range(48)]


def conversation_records() -> list[dict[str, Any]]:
    """Multi-turn rows with a system prompt, single-turn rows without one; targets starting with newlines (merged
    with ChatML's header newline) or text. Odd rows' gold has no ``####``: they are unverifiable and keep y*."""
    records = []
    for i, ex in enumerate(get_suite("downstream").examples("train", 12)):
        target = ("\n\n" if i % 4 != 2 else "") + f"{ex.expert}\n#### {ex.gold}"
        turns = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "warm-up: 1 plus 1?"},
            {"role": "assistant", "content": "  1 plus 1 gives 2.\n#### 2 "},
            {"role": "user", "content": ex.question},
            {"role": "assistant", "content": target, "name": "expert"},
        ]
        record: dict[str, Any] = {"id": f"c{i}", "messages": turns if i % 3 else turns[3:], "source": "toy"}
        if i % 2:
            record["gold"] = f"{ex.gold} items"
        records.append(record)
    return records


@dataclass
class Flow:
    family: str
    primed: Path
    qa_rows: list[dict[str, list[int]]]  # what the priming SFT trained on (QA conditioning)
    input_file: Path
    output_file: Path
    chat_rows: list[dict[str, list[int]]]  # what SFT on the rewrite output trained on (chat conditioning)
    tuned: Path
    accuracy: dict[str, float]


@pytest.fixture(scope="module", params=FAMILIES)
def flow(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Flow:
    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp(request.param)
    model = build(request.param, work / "random")
    primed = work / "primed"
    qa_rows = sft(priming_rows(), model, primed, steps=40, lr=1e-2, batch_size=16)
    # upload: the file is validated as the API validates it (line-numbered problems, schema detection)
    input_file = work / "conversations.jsonl"
    input_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in conversation_records()))
    schema, rows = formats.read_rows(input_file)
    assert schema == "messages" and len(rows) == 12
    # rewrite
    spec = StrategySpec(
        strategy="guided_resolve",
        k=2,
        max_new_tokens=16,
        verifier="regex",
        verifier_options={"pattern": "(####)"},
    )
    output_file = work / "rewritten.jsonl"
    pipeline.run(
        input_file, output_file, spec, HFEngine(primed, device="cpu"), model=str(primed), shard_rows=8
    )
    # SFT on the rewrite (chat conditioning), then eval
    tuned = work / "tuned"
    chat_rows = sft(output_file, primed, tuned, conditioning="chat", batch_size=12)
    results = evaluate(HFEngine(tuned, device="cpu"), ["add"], n=4)
    return Flow(
        request.param,
        primed,
        qa_rows,
        input_file,
        output_file,
        chat_rows,
        tuned,
        {k: v.accuracy for k, v in results.items()},
    )


def label_logprobs(model: Any, row: dict[str, list[int]]) -> list[float]:
    """Log-probs under ``model`` of the tokens SFT's loss covers (labels != -100), from SFT's own input."""
    ids = torch.tensor([row["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)  # [T, V]
    return [logp[t - 1, label].item() for t, label in enumerate(row["labels"]) if label != IGNORE]


def merged_at_boundary(tokenizer: Any, prompt: str, joint: str) -> bool:
    """Whether BPE merged the prompt's last token with the target's first (the prompt alone is no prefix)."""
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return common_prefix(p, tokenizer(joint, add_special_tokens=False)["input_ids"]) < len(p)


def test_score_rates_exactly_the_tokens_sft_trains_on(flow: Flow) -> None:
    engine = HFEngine(flow.primed, device="cpu")
    model = AutoModelForCausalLM.from_pretrained(flow.primed, dtype=torch.float32).eval()
    tok = engine.tokenizer
    cases = []  # (prompt for score, target, conditioning, SFT row, boundary merged?)
    for row, trained in zip(priming_rows(), flow.qa_rows, strict=True):
        prompt = engine.render([row.question], "qa")[0]
        cases.append(
            (row.question, row.answer, "qa", trained, merged_at_boundary(tok, prompt, prompt + row.answer))
        )
    _, rows = formats.read_rows(flow.output_file)
    for row, trained in zip(rows, flow.chat_rows, strict=True):
        context = formats.chat_prompt(row)
        prompt = engine.render([context], "chat")[0]
        joint = tok.apply_chat_template(
            [*context, {"role": "assistant", "content": row.answer}], tokenize=False
        )
        cases.append((context, row.answer, "chat", trained, merged_at_boundary(tok, prompt, joint)))

    merged = {cond for *_, cond, _, m in cases if m}
    # The rows are built so that merges happen: QA for both families, chat under ChatML (Llama-3 trims the
    # content and starts it after "\n\n", so its boundary never merges).
    assert merged == ({"qa", "chat"} if flow.family == "qwen2" else {"qa"})
    for conditioning in ("qa", "chat"):
        group = [c for c in cases if c[2] == conditioning]
        scored = engine.score([c[0] for c in group], [c[1] for c in group], conditioning=conditioning)
        for (_, target, _, trained, _), logprobs in zip(group, scored, strict=True):
            labels = [t for t in trained["labels"] if t != IGNORE]
            assert len(logprobs) == len(labels), (conditioning, target)
            expected = label_logprobs(model, trained)
            assert max(abs(a - b) for a, b in zip(logprobs, expected, strict=True)) < 1e-4
            assert labels[-1] == tok.eos_token_id  # the target ends on the EOS / end-of-turn token


def test_only_the_final_assistant_turn_is_rewritten(flow: Flow) -> None:
    source = [json.loads(line) for line in flow.input_file.read_text().splitlines()]
    output = [json.loads(line) for line in flow.output_file.read_text().splitlines()]
    assert [r["id"] for r in output] == [r["id"] for r in source]
    provenance = [r["meta"]["provenance"] for r in output]
    assert "self" in provenance or "guided" in provenance  # some rows were rewritten...
    assert "expert_fallback" in provenance  # ...and some kept y*
    for before, after in zip(source, output, strict=True):
        *context_in, final_in = before["messages"]
        *context_out, final_out = after["messages"]
        dumped = [json.dumps(t, ensure_ascii=False) for t in context_in]
        assert [json.dumps(t, ensure_ascii=False) for t in context_out] == dumped  # system + earlier turns
        assert {k: v for k, v in final_out.items() if k != "content"} == {
            "role": "assistant",
            "name": "expert",
        }
        assert after["source"] == "toy"
        rewritten = after["meta"]["provenance"] in ("self", "guided")
        assert (final_out["content"] != final_in["content"]) == rewritten
        if rewritten:
            assert "####" in final_out["content"]


def test_sft_loss_covers_the_final_assistant_turn_only(flow: Flow) -> None:
    tok = AutoTokenizer.from_pretrained(flow.primed)
    _, rows = formats.read_rows(flow.output_file)
    multi_turn = 0
    for row, trained in zip(rows, flow.chat_rows, strict=True):
        messages = row.raw["messages"]
        oracle = tok.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids, mask = oracle["input_ids"], oracle["assistant_masks"]
        # the template's own markers: the last run of assistant tokens is the final turn (content + end of turn)
        last = max(i for i, m in enumerate(mask) if m)
        first = last
        while first > 0 and mask[first - 1]:
            first -= 1
        assert trained["input_ids"] == ids[: last + 1]  # the conversation as the template renders it, no more
        covered = [i for i, label in enumerate(trained["labels"]) if label != IGNORE]
        assert covered == list(range(first, last + 1))
        assert [trained["labels"][i] for i in covered] == ids[first : last + 1]
        multi_turn += sum(mask[:first]) > 0  # earlier replies were in the input and carried no loss
    assert multi_turn == 8


def test_the_flow_ends_in_an_evaluated_model(flow: Flow) -> None:
    training = json.loads((flow.tuned / "training.json").read_text())
    assert training["spec"]["conditioning"] == "chat" and training["result"]["rows"] == 12
    assert (flow.tuned / "model.safetensors").exists()
    assert set(flow.accuracy) == {"add"} and 0.0 <= flow.accuracy["add"] <= 1.0
