"""The one interface every generation/scoring engine implements (DESIGN §3.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rewriter import prompts as templates

# How prompts are conditioned: "raw" uses the text as given; "qa" renders a question with the model's QA template;
# "chat" renders it as a single user turn with the model's chat template.
Conditioning = Literal["raw", "qa", "chat"]


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
        prompts: list[str],
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
        prompts: list[str],
        targets: list[str],
        *,
        conditioning: Conditioning = "raw",
        adapter: str | None = None,
    ) -> list[list[float]]:
        """Per-token log-probs of each target (then EOS) after its prompt, teacher-forced, batched."""
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


def render_prompts(
    prompts: list[str], conditioning: Conditioning, qa_template: str, tokenizer: Any
) -> list[str]:
    """The model input of each prompt: as given, in the QA template, or as one user turn of the chat template."""
    if conditioning == "raw":
        return prompts
    if conditioning == "qa":
        return [templates.render(qa_template, p) for p in prompts]
    return [
        str(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
        )
        for p in prompts
    ]


def encode_prompts(
    prompts: list[str], conditioning: Conditioning, qa_template: str, tokenizer: Any
) -> list[list[int]]:
    """Token ids of each rendered prompt. Chat templates carry their own BOS; raw and QA text gets the tokenizer's
    own special tokens, which is also what TRL's trainers do with plain-text prompts."""
    add_special = conditioning != "chat"
    return [
        list(tokenizer(text, add_special_tokens=add_special)["input_ids"])
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
