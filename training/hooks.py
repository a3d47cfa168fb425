"""Caller hooks into a training run (SFT and GRPO alike) and the transformers callback that runs them.

A run streams each logged step to ``on_step``, saves a snapshot of the weights every ``eval_every`` steps (and at
step 0) for ``on_eval`` to evaluate, and polls ``should_stop`` after every step so a cancel ends training cleanly.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from training.runtime import copy_model_settings


@dataclass(frozen=True)
class Snapshot:
    """The weights at ``step``, saved to ``path`` for an evaluation hook: a full model directory, or (``adapter``)
    a PEFT adapter directory to load on ``base_model``. The directory is deleted once the hook returns."""

    step: int
    path: str
    adapter: bool
    base_model: str


@dataclass
class TrainingHooks:
    """Caller hooks into a training run (SFT and GRPO).

    ``on_step(step, metrics)`` after every logged step (stream progress events); ``on_eval(snapshot)`` every
    ``spec.eval_every`` steps and at step 0, returning metrics (e.g. downstream/retention accuracy) that join that
    step's metrics (curves); ``should_stop()`` polled after every step: True stops training cleanly (cancel), the
    weights so far are still saved and ``training.json`` says ``"stopped": true``.
    """

    on_step: Callable[[int, dict[str, Any]], None] | None = None
    on_eval: Callable[[Snapshot], dict[str, float]] | None = None
    should_stop: Callable[[], bool] | None = None
    extra: Sequence[TrainerCallback] = ()


class HooksCallback(TrainerCallback):
    """Runs :class:`TrainingHooks` inside a transformers Trainer and collects the per-step metrics."""

    def __init__(
        self,
        hooks: TrainingHooks | None,
        *,
        eval_every: int | None,
        adapter: bool,
        base_model: str,
        scratch: Path,
    ) -> None:
        self.hooks = hooks or TrainingHooks()
        self.eval_every = eval_every
        self.adapter = adapter
        self.base_model = base_model
        self.scratch = scratch
        self.metrics: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}
        self.pending_eval: dict[str, float] = {}
        self.stopped = False

    def _evaluate(self, step: int, model: Any, tokenizer: Any) -> dict[str, float]:
        if self.hooks.on_eval is None:
            return {}
        self.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.scratch) as folder:
            model.save_pretrained(folder)
            if tokenizer is not None:
                tokenizer.save_pretrained(folder)
            if not self.adapter:
                copy_model_settings(self.base_model, folder)
            was_training = model.training
            model.eval()
            try:
                return dict(self.hooks.on_eval(Snapshot(step, folder, self.adapter, self.base_model)))
            finally:
                model.train(was_training)

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self.eval_every and self.hooks.on_eval is not None:
            record = {"step": 0, **self._evaluate(0, kw["model"], kw.get("processing_class"))}
            self.metrics.append(record)
            if self.hooks.on_step:
                self.hooks.on_step(0, record)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self.eval_every and state.global_step % self.eval_every == 0:
            self.pending_eval = self._evaluate(state.global_step, kw["model"], kw.get("processing_class"))
        if self.hooks.should_stop is not None and self.hooks.should_stop():
            self.stopped = True
            control.should_training_stop = True

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        logs = dict(logs or {})
        if "train_runtime" in logs:  # the trainer's closing summary, not a step
            self.summary = logs
            return
        record = {"step": state.global_step, **logs, **self.pending_eval}
        self.pending_eval = {}
        self.metrics.append(record)
        if self.hooks.on_step:
            self.hooks.on_step(state.global_step, record)
