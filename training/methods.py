"""The fine-tuning methods a service job can name, as ``rewriter.runs.fine_tune`` calls them (its ``Trainer``).

``supervised`` runs ``train_sft`` with ``SFTSpec(**args)``, ``grpo`` runs ``train_grpo`` with ``GRPOSpec(**args)``.
The trainers are imported on first use: a job that fails on its files fails before torch loads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewriter.runs.fine_tune import Trained


def train(
    method: str,
    data: Path,
    model_dir: Path,
    out: Path,
    args: dict[str, Any],
    *,
    on_step: Callable[[int, dict[str, Any]], None],
    should_stop: Callable[[], bool],
    validation: Path | None = None,
) -> Trained:
    """Train with ``method`` (``supervised`` | ``grpo``) on ``data`` from ``model_dir`` into ``out``; ``validation``
    (supervised only) is a file whose loss is logged as ``eval_loss``."""
    from training.hooks import TrainingHooks
    from training.sft import SFTSpec, train_sft  # heavy: torch, transformers, TRL

    hooks = TrainingHooks(on_step=on_step, should_stop=should_stop)
    if method == "supervised":
        return train_sft(data, model_dir, out, SFTSpec(**args), hooks, validation=validation)
    if validation is not None:
        raise ValueError("a validation file is for supervised fine-tuning only")
    if method == "grpo":
        from training.grpo import GRPOSpec, train_grpo

        return train_grpo(data, model_dir, out, GRPOSpec(**args), hooks)
    raise ValueError(f"no trainer for the method {method!r}; use supervised or grpo")
