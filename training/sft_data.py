"""SFT's data: rows as TRL prompt/completion examples, and for the ``is`` loss the generator's recorded log-probs
carried through TRL's collator to the completion tokens they belong to (DESIGN §2.4)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from datasets import Dataset
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from rewriter import formats, prompts
from rewriter.engines.base import Prompt, encode_targets
from rewriter.records import Row

IGNORE = -100  # label of tokens outside the completion (TRL's and transformers' convention)


def generator_logprobs(row: Row) -> list[float] | None:
    """The generator's per-token log-probs of a rewritten row's target (incl. EOS), or None for an expert row.

    >>> generator_logprobs(Row("a", "q", "t", raw={"meta": {"generator": {"token_logprobs": [-0.1, -0.2]}}}))
    [-0.1, -0.2]
    >>> generator_logprobs(Row("b", "q", "t", raw={"meta": {"generator": None}})) is None
    True
    """
    meta = row.raw.get("meta")
    generator = meta.get("generator") if isinstance(meta, dict) else None
    logprobs = generator.get("token_logprobs") if isinstance(generator, dict) else None
    return [float(x) for x in logprobs] if isinstance(logprobs, list) and logprobs else None


def to_examples(
    rows: Iterable[Row],
    prompt_template: str = prompts.QA_TEMPLATE,
    *,
    behavior: bool = False,
    conditioning: Literal["qa", "chat"] = "qa",
) -> list[dict[str, Any]]:
    """Rows as prompt/completion examples; with ``behavior``, each carries its generator log-probs (or None).

    ``qa``: the prompt is the question in ``prompt_template`` (a ``prompt_completion`` row keeps its prompt
    verbatim); ``chat``: the prompt is the conversation before the target (:func:`rewriter.formats.chat_prompt`:
    a ``messages`` row's system prompt and earlier turns, else the question as one user turn), which the model's
    chat template renders.

    >>> to_examples([Row("a", "2+2", "4")])
    [{'prompt': 'Problem:\\n2+2\\n\\nAnswer:\\n', 'completion': '4'}]
    >>> to_examples([Row("a", "2+2", "4")], conditioning="chat")
    [{'prompt': '2+2', 'completion': '4'}]
    """
    out = []
    for row in rows:
        prompt: Prompt
        if conditioning == "chat":
            prompt = formats.chat_prompt(row)
        elif row.schema == "prompt_completion":
            prompt = row.question
        else:
            prompt = prompts.render(prompt_template, row.question)
        example: dict[str, Any] = {"prompt": prompt, "completion": row.answer}
        if behavior:
            example["behavior_logprobs"] = generator_logprobs(row)
        out.append(example)
    return out


def tokenize_examples(
    examples: Sequence[dict[str, Any]], tokenizer: Any, conditioning: Literal["qa", "chat"] = "qa"
) -> list[dict[str, Any]]:
    """Examples as TRL's pre-tokenized rows (``input_ids``, ``completion_mask``; other keys kept), by the rule
    scoring uses (:func:`rewriter.engines.base.encode_targets`, docs/rewriting.md): the tokens SFT trains on are
    exactly the tokens ``score`` rates. QA prompts arrive rendered, so they are encoded as raw text.

    TRL's own tokenization would find the same start (it too starts the completion where the tokenized prompt and
    prompt+completion diverge) but, under a chat template, trains on what follows the end-of-turn token too (ChatML's
    newline), and it cannot take a multi-turn conversation's final turn as the only target.
    """
    encoded = encode_targets(
        [ex["prompt"] for ex in examples],
        [ex["completion"] for ex in examples],
        "chat" if conditioning == "chat" else "raw",
        "{question}",
        tokenizer,
    )
    out = []
    for example, (ids, start) in zip(examples, encoded, strict=True):
        rest = {k: v for k, v in example.items() if k not in ("prompt", "completion")}
        out.append({"input_ids": ids, "completion_mask": [0] * start + [1] * (len(ids) - start), **rest})
    return out


def align_behavior(labels: Sequence[int], logprobs: Sequence[float] | None) -> list[float] | None:
    """Generator log-probs placed at the label (completion) positions of one tokenized row; 0 (p_β = 1) elsewhere.

    None when the row has no record or the record's length differs from the tokenized completion (then the row is
    trained as an expert row, p_β = 1).

    >>> align_behavior([-100, -100, 7, 8], [-0.5, -1.0])
    [0.0, 0.0, -0.5, -1.0]
    >>> align_behavior([-100, 7, 8], [-0.5]) is None
    True
    """
    if logprobs is None:
        return None
    positions = [i for i, label in enumerate(labels) if label != IGNORE]
    if len(positions) != len(logprobs):
        return None
    out = [0.0] * len(labels)
    for i, lp in zip(positions, logprobs, strict=True):
        out[i] = float(lp)
    return out


@dataclass
class BehaviorCollator:
    """TRL's language-modeling collator plus ``behavior_logprobs`` ``[B, T]``: each row's generator log-probs at its
    label positions, 0 elsewhere and for rows without a usable record (log p_β = 0 ⇔ p_β = 1)."""

    inner: DataCollatorForLanguageModeling

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.inner([{k: ex[k] for k in ("input_ids", "labels") if k in ex} for ex in examples])
        labels = batch["labels"]  # [B, T]
        behavior = torch.zeros(labels.shape, dtype=torch.float32)  # [B, T]
        for b, ex in enumerate(examples):
            aligned = align_behavior(ex["labels"], ex.get("behavior_logprobs"))
            if aligned is not None:
                behavior[b, : len(aligned)] = torch.tensor(aligned)
        batch["behavior_logprobs"] = behavior
        return batch


def count_behavior(dataset: Dataset) -> dict[str, int]:
    """How many tokenized rows carry usable generator log-probs, none (expert rows), or a mismatched record.

    >>> count_behavior(Dataset.from_list([{"labels": [-100, 5], "behavior_logprobs": [-0.1]},
    ...                                   {"labels": [-100, 5], "behavior_logprobs": None},
    ...                                   {"labels": [5, 6], "behavior_logprobs": [-0.1]}]))
    {'recorded': 1, 'expert': 1, 'mismatched': 1}
    """
    counts = {"recorded": 0, "expert": 0, "mismatched": 0}
    for labels, logprobs in zip(dataset["labels"], dataset["behavior_logprobs"], strict=True):
        if logprobs is None:
            counts["expert"] += 1
        elif align_behavior(labels, logprobs) is None:
            counts["mismatched"] += 1
        else:
            counts["recorded"] += 1
    return counts
