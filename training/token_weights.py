"""Per-token weights from the base: SFT's loss down-weights or masks target tokens the base finds surprising
(issue 15, item 4; Low-perplexity Token learning, STM, NeurIPS 2025, masks tokens above ~2.5 nats).

Forgetting follows the few high-NLL tokens that carry the gradient (DESIGN §4.1); rows no rewrite passed (expert
fallback, ~9.6 nats/token for the issue's user) are made of them. Weighting those tokens is the one lever that acts
on such rows without dropping them. What runs: before training, one no-grad pass of the model as loaded (the base)
scores every completion token of the tokenized training set (``add_base_logprobs``); the loss then weights token t by

- ``mask``: ``w_t = 1 if nll_t <= τ else 0``;
- ``down``: ``w_t = exp(-max(0, nll_t - τ))`` (1 up to τ, then decaying: a token 1 nat above τ counts 0.37);

with ``nll_t = -log p_base(y_t)`` and τ = ``token_nll_threshold`` (default 2.5). The loss is ``-Σ w_t log p_θ(y_t) /
#tokens`` (``training.sft.WeightedSFTTrainer``).
"""

from __future__ import annotations

from typing import Literal

import torch
from datasets import Dataset

from training.sft_data import IGNORE

TokenWeighting = Literal["none", "mask", "down"]
SCORE_BATCH = 32  # rows per no-grad pass; the toy's rows are < 256 tokens


def token_weights(base_logprobs: torch.Tensor, mode: TokenWeighting, threshold: float) -> torch.Tensor:
    """Weights from the base's log-probs of the target tokens; any shape, same shape out.

    >>> lp = -torch.tensor([0.1, 2.5, 3.0, 9.6])
    >>> token_weights(lp, "mask", 2.5).tolist()
    [1.0, 1.0, 0.0, 0.0]
    >>> [round(w, 4) for w in token_weights(lp, "down", 2.5).tolist()]
    [1.0, 1.0, 0.6065, 0.0008]
    >>> token_weights(lp, "none", 2.5).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    nll = -base_logprobs
    if mode == "mask":
        return (nll <= threshold).to(base_logprobs.dtype)
    if mode == "down":
        return torch.exp(-(nll - threshold).clamp(min=0.0))
    return torch.ones_like(base_logprobs)


@torch.no_grad()
def completion_logprobs(model: torch.nn.Module, input_ids: list[int], labels: list[int]) -> list[float]:
    """The model's log-prob of each label (completion) token of one tokenized row, in order."""
    ids = torch.tensor([input_ids], device=model.device)  # [1, T]
    logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)  # [T-1, V]
    return [logp[i - 1, input_ids[i]].item() for i, label in enumerate(labels) if label != IGNORE and i > 0]


def add_base_logprobs(model: torch.nn.Module, dataset: Dataset) -> Dataset:
    """``dataset`` (TRL-tokenized: ``input_ids``, ``labels``) with ``behavior_logprobs``: the base's log-prob of each
    completion token, which ``BehaviorCollator`` places at the label positions. Run before any training step."""
    was_training = model.training
    model.eval()
    scored = [
        completion_logprobs(model, ids, labels)
        for ids, labels in zip(dataset["input_ids"], dataset["labels"], strict=True)
    ]
    model.train(was_training)
    if "behavior_logprobs" in dataset.column_names:
        dataset = dataset.remove_columns("behavior_logprobs")
    return dataset.add_column("behavior_logprobs", scored)  # type: ignore[arg-type]
