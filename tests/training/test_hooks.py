"""Training hooks in a real run (SFT on a tiny Llama): steps stream, snapshots are evaluated at step 0 and every
``eval_every`` steps, and ``should_stop`` ends training cleanly with the weights saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewriter.engines.hf import HFEngine
from rewriter.records import Row
from tests.factories import sft_rows
from training.hooks import Snapshot, TrainingHooks
from training.sft import SFTSpec, train_sft

pytestmark = pytest.mark.usefixtures("one_thread")


def mean_nll(engine: HFEngine, rows: list[Row], adapter: str | None = None) -> float:
    scored = engine.score(
        [r.question for r in rows], [r.answer for r in rows], conditioning="qa", adapter=adapter
    )
    return -sum(sum(lp) for lp in scored) / sum(len(lp) for lp in scored)


def test_hooks_stream_steps_evaluate_snapshots_and_stop(tiny_model: Path, tmp_path: Path) -> None:
    rows = sft_rows()
    streamed: list[tuple[int, dict[str, float]]] = []
    evaluated: list[int] = []
    cancelled = False

    def on_step(step: int, metrics: dict[str, float]) -> None:
        nonlocal cancelled
        streamed.append((step, metrics))
        cancelled = cancelled or step == 3  # a cancel arrives while step 3 is reported

    def on_eval(snapshot: Snapshot) -> dict[str, float]:
        evaluated.append(snapshot.step)
        assert not snapshot.adapter
        return {"eval_nll": mean_nll(HFEngine(snapshot.path, device="cpu"), rows[:8])}

    hooks = TrainingHooks(
        on_step=on_step,
        on_eval=on_eval,
        should_stop=lambda: cancelled,  # polled after each step: training ends after the next one
    )
    spec = SFTSpec(steps=50, batch_size=8, lr=3e-3, eval_every=2)
    result = train_sft(rows, tiny_model, tmp_path / "out", spec, callbacks=hooks)

    assert result.stopped
    assert [s for s, _ in streamed] == [0, 1, 2, 3, 4]
    assert evaluated == [0, 2, 4]
    curve = [m["eval_nll"] for m in result.metrics if "eval_nll" in m]
    assert len(curve) == 3 and curve[-1] < curve[0]
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert json.loads((tmp_path / "out" / "training.json").read_text())["result"]["stopped"] is True
    assert not (tmp_path / "out" / ".snapshots").exists()
