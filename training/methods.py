"""The fine-tuning methods a service job can name, as ``rewriter.runs.fine_tune`` calls them (its ``Trainer``).

``supervised`` runs ``train_sft`` with ``SFTSpec(**args)`` (in ``n_processes`` processes through
``training.distributed`` when that is above 1), ``grpo`` runs ``train_grpo`` with ``GRPOSpec(**args)``.
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
    accelerate_config: str | None = None,
    validation: Path | None = None,
) -> Trained:
    """Train with ``method`` (``supervised`` | ``grpo``) on ``data`` from ``model_dir`` into ``out``; supervised
    with ``n_processes`` > 1 under ``accelerate launch`` (``training.distributed``); ``validation`` (supervised
    only) is a file whose loss is logged as ``valid_loss``."""
    if method == "supervised" and int(args.get("n_processes", 1)) > 1:
        from training.distributed import train_distributed  # starts the ranks; imports no trainer here

        return train_distributed(
            data,
            model_dir,
            out,
            args,
            on_step=on_step,
            should_stop=should_stop,
            accelerate_config=accelerate_config,
            validation=validation,
        )
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
