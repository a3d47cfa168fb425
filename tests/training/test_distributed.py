"""Data-parallel SFT through ``accelerate launch``: 2 processes (DDP, gloo on the CPU) at the same global batch
follow the same loss curve as 1 process, rank 0 alone writes the outputs, and a cancel stops every rank.

Tolerance: the two runs see the same rows at every step (the seeded sampler shuffles the whole set, then the global
batch of 8 is split 4 + 4), so only float32 rounding differs: each rank pads its 4 rows to its own longest row and
sums its own tokens, and gloo adds the two halves of the gradient, so the same sums are taken in another order
(float32 epsilon 1.2e-7 per addition). Measured: at most 1.1e-7 relative over 6 steps. Adam divides by the root of
the second moment, which can amplify a rounding difference on a near-zero gradient, so the curves are compared at
1e-5 relative; a wrong reduction (a rank seeing other rows, a loss not rescaled for DDP, gradients not averaged)
moves the loss by more than 1e-2 from the second step on (it falls by ~0.2 per step here).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rewriter.formats import write_jsonl
from tests.factories import sft_rows
from training.distributed import train_distributed
from training.sft import SFTSpec, train_sft

pytestmark = pytest.mark.usefixtures("one_thread")

RELATIVE = 1e-5


def losses(metrics: list[dict[str, object]]) -> list[float]:
    return [float(m["loss"]) for m in metrics if "loss" in m]  # type: ignore[arg-type]


# Each launch starts 2 processes that import TRL (~15 s on a quiet machine): the `is` loss's rescaling runs in the
# slow suite.
@pytest.mark.parametrize("loss", ["nll", pytest.param("is", marks=pytest.mark.slow)])
def test_two_processes_follow_the_single_process_loss_curve(
    loss: str, tiny_model: Path, tmp_path: Path
) -> None:
    data = tmp_path / "train.jsonl"
    write_jsonl(
        data, [{"id": r.id, "question": r.question, "answer": r.answer, **r.raw} for r in sft_rows(32)]
    )
    spec = SFTSpec(loss=loss, steps=6, batch_size=8, lr=3e-3)  # type: ignore[arg-type]
    single = train_sft(data, tiny_model, tmp_path / "one", spec)

    streamed: list[int] = []
    ddp = train_distributed(
        data,
        tiny_model,
        tmp_path / "two",
        spec.model_dump() | {"n_processes": 2},
        on_step=lambda step, metrics: streamed.append(step),
        should_stop=lambda: False,
        poll_seconds=0.1,
    )
    one, two = losses(single.metrics), losses(ddp.metrics)
    assert len(one) == len(two) == 6 and streamed == [1, 2, 3, 4, 5, 6]
    assert one[0] != one[-1]  # it trained
    for a, b in zip(one, two, strict=True):
        assert math.isclose(a, b, rel_tol=RELATIVE), (one, two)

    # Rank 0 wrote the model and training.json, with the spec of the run; the weights match the single run's.
    written = json.loads((tmp_path / "two" / "training.json").read_text())
    assert written["spec"]["n_processes"] == 2 and len(written["result"]["metrics"]) == 6
    w1, w2 = (
        load_file(str(tmp_path / "one" / "model.safetensors")),
        load_file(str(tmp_path / "two" / "model.safetensors")),
    )
    assert w1.keys() == w2.keys()
    for name in w1:
        assert torch.allclose(w1[name], w2[name], rtol=1e-3, atol=1e-5), name
    assert not (tmp_path / "two.launch").exists()


@pytest.mark.slow  # another 2-process launch (~15 s on a quiet machine); the job-level launch runs by default
def test_a_cancel_stops_every_rank(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    write_jsonl(data, [{"id": r.id, "question": r.question, "answer": r.answer} for r in sft_rows(32)])
    seen: list[int] = []
    result = train_distributed(
        data,
        tiny_model,
        tmp_path / "out",
        SFTSpec(steps=10_000, batch_size=4, n_processes=2).model_dump(),
        on_step=lambda step, metrics: seen.append(step),
        should_stop=lambda: len(seen) >= 2,
        poll_seconds=0.1,
    )
    assert result.stopped and len(seen) >= 2 and seen[-1] < 10_000
    assert not (tmp_path / "out" / "training.json").exists()


def test_a_run_must_be_launched_with_its_processes(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of n_processes"):
        SFTSpec(batch_size=6, n_processes=4)
    with pytest.raises(ValueError, match="accelerate launch"):
        train_sft(sft_rows(8), tiny_model, tmp_path / "out", SFTSpec(batch_size=4, n_processes=2))
