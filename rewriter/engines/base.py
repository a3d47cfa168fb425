"""The one interface every generation/scoring engine implements (DESIGN §3.1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rewriter import prompts as templates

# How prompts are conditioned: "raw" uses the text as given; "qa" renders a question with the model's QA template;
# "chat" renders it as a single user turn with the model's chat template.
Conditioning = Literal["raw", "qa", "chat"]


# A prompt is a question (a user turn), or under chat conditioning the whole conversation before the target: a
# `messages` row's system prompt and earlier turns (``formats.chat_prompt``). Raw and QA conditioning use its last
# user turn.
Prompt = str | list[dict[str, Any]]


@dataclass(frozen=True)
class Generation:
    """One sampled completion: its text (stop string and EOS removed), token ids and per-token log-probs.

    ``logprobs`` are under the model's own distribution (temperature 1), including the EOS token when the sample
    ended on it: their sum is the generator's log-probability of the sequence, used for importance weights.
    """

    text: str
    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    finished: bool  # ended on EOS or a stop string (not cut by max_new_tokens)

    @property
    def logprob_sum(self) -> float:
        return float(sum(self.logprobs))


class Engine(Protocol):
    name: str

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 128,
        seed: int = 0,
        stop: list[str] | None = None,
        conditioning: Conditioning = "raw",
        adapter: str | None = None,
    ) -> list[list[Generation]]:
        """``n`` samples per prompt (greedy when temperature is 0), in prompt order."""
        ...

    def score(
        self,
        prompts: Sequence[Prompt],
        targets: list[str],
        *,
        conditioning: Conditioning = "raw",
        adapter: str | None = None,
    ) -> list[list[float]]:
        """Per-token log-probs of each target's tokens (:func:`encode_targets`: through its EOS) after its prompt,
        teacher-forced, batched."""
        ...

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Mean-pooled last hidden state of each text, L2-normalised."""
        ...


def mean_nll(logprobs: list[float]) -> float:
    """Per-token negative log-likelihood of one target.

    >>> round(mean_nll([-1.0, -3.0]), 3)
    2.0
    """
    return -sum(logprobs) / max(1, len(logprobs))


def _conversation(prompt: Prompt) -> list[dict[str, Any]]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def _question(prompt: Prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    return str(next(turn["content"] for turn in reversed(prompt) if turn.get("role") == "user"))


def render_prompts(
    prompts: Sequence[Prompt], conditioning: Conditioning, qa_template: str, tokenizer: Any
) -> list[str]:
    """The model input of each prompt: as given, in the QA template, or as the chat template's conversation (a
    question becomes one user turn) up to the assistant's turn."""
    if conditioning == "raw":
        return [_question(p) for p in prompts]
    if conditioning == "qa":
        return [templates.render(qa_template, _question(p)) for p in prompts]
    return [
        str(tokenizer.apply_chat_template(_conversation(p), tokenize=False, add_generation_prompt=True))
        for p in prompts
    ]


def _ids(tokenizer: Any, text: str, conditioning: Conditioning) -> list[int]:
    # Chat templates carry their own BOS; raw and QA text gets the tokenizer's own special tokens, which is also
    # what TRL's trainers do with plain-text prompts.
    return list(tokenizer(text, add_special_tokens=conditioning != "chat")["input_ids"])


def encode_prompts(
    prompts: Sequence[Prompt], conditioning: Conditioning, qa_template: str, tokenizer: Any
) -> list[list[int]]:
    """Token ids of each rendered prompt."""
    return [
        _ids(tokenizer, text, conditioning)
        for text in render_prompts(prompts, conditioning, qa_template, tokenizer)
    ]


def render_conversation(tokenizer: Any, turns: list[dict[str, Any]]) -> str:
    """``turns`` in the model's chat template, ready for the next assistant turn, as raw text: a BOS the template
    writes is dropped when the tokenizer adds one itself to raw text (``encode_prompts``), so it appears once."""
    text = str(tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True))
    bos = tokenizer.bos_token
    if bos and text.startswith(bos):
        adds_bos = list(tokenizer("x", add_special_tokens=True)["input_ids"][:1]) == [tokenizer.bos_token_id]
        if adds_bos:
            text = text[len(bos) :]
    return text


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share.

    >>> common_prefix([5, 6, 7], [5, 6, 9, 1])
    2
    """
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def encode_targets(
    prompts: Sequence[Prompt],
    targets: Sequence[str],
    conditioning: Conditioning,
    qa_template: str,
    tokenizer: Any,
) -> list[tuple[list[int], int]]:
    """Each (prompt, target) as one token sequence and the index where the target's tokens start: the one rule that
    both scoring and SFT use, so the tokens ``score`` rates are exactly the tokens SFT trains on.

    The rule (docs/rewriting.md, "Which tokens are the target's"): render the prompt alone and the prompt with its
    target (chat: the conversation with the target as the final assistant turn), tokenize both; the sequence is the
    joint tokenization, and the target starts where the two diverge. A token that BPE merged across the boundary
    therefore belongs to the target (the model must produce it). The target ends at the first EOS after its start,
    inclusive (a chat template's end-of-turn token: what follows it, e.g. ChatML's newline, is dropped); when
    there is none (plain text, or a template that writes no EOS) the EOS token is appended.

    >>> class Chars:  # a character-level tokenizer, enough for the doctest
    ...     eos_token_id = 0
    ...     def __call__(self, text, add_special_tokens=True):
    ...         return {"input_ids": [ord(c) for c in text]}
    >>> encode_targets(["ab"], ["c"], "raw", "{question}", Chars())
    [([97, 98, 99, 0], 2)]
    """
    if len(prompts) != len(targets):
        raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
    eos = tokenizer.eos_token_id
    out = []
    rendered = render_prompts(prompts, conditioning, qa_template, tokenizer)
    for prompt, text, target in zip(prompts, rendered, targets, strict=True):
        if conditioning == "chat":
            turns = [*_conversation(prompt), {"role": "assistant", "content": target}]
            joint_text = str(tokenizer.apply_chat_template(turns, tokenize=False))
        else:
            joint_text = text + target
        prompt_ids, joint = _ids(tokenizer, text, conditioning), _ids(tokenizer, joint_text, conditioning)
        start = common_prefix(prompt_ids, joint)
        if start == 0:
            raise ValueError(
                "the prompt and the prompt with its target share no first token: give the tokenizer a BOS or the "
                "prompt some text, or the first target token has no context to be scored in"
            )
        ids = joint[: joint.index(eos, start) + 1] if eos in joint[start:] else [*joint, eos]
        out.append((ids, start))
    return out
