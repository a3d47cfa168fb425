"""The SFT levers for rows no rewrite passed (issue 15): token weights from the base's NLL and replay mixing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rewriter.engines.hf import HFEngine
from rewriter.records import Row
from tests.factories import sft_rows
from training import replay
from training.sft import SFTSpec, train_sft
from training.token_weights import add_base_logprobs, token_weights

pytestmark = pytest.mark.usefixtures("one_thread")


def test_token_weights_mask_and_down_weight_by_base_nll() -> None:
    nll = torch.tensor([[0.0, 1.0, 2.5, 2.6, 4.0]])  # [B, T]
    assert token_weights(-nll, "mask", 2.5).tolist() == [[1.0, 1.0, 1.0, 0.0, 0.0]]
    down = token_weights(-nll, "down", 2.5)
    assert torch.allclose(
        down, torch.tensor([[1.0, 1.0, 1.0, torch.exp(torch.tensor(-0.1)), torch.exp(torch.tensor(-1.5))]])
    )
    assert token_weights(-nll, "mask", 10.0).tolist() == [[1.0] * 5]


def test_base_logprobs_are_the_engines_scores_of_each_completion_token(tiny_model: Path) -> None:
    from datasets import Dataset

    from training.runtime import load_model

    rows = sft_rows()[:4]
    model, tokenizer = load_model(str(tiny_model))
    prompts_ = [f"Problem:\n{r.question}\n\nAnswer:\n" for r in rows]
    tokenized = []
    for prompt, row in zip(prompts_, rows, strict=True):
        p = tokenizer(prompt)["input_ids"]
        c = tokenizer(row.answer, add_special_tokens=False)["input_ids"]
        tokenized.append({"input_ids": p + c, "labels": [-100] * len(p) + c})
    scored = add_base_logprobs(model, Dataset.from_list(tokenized))["behavior_logprobs"]
    expected = HFEngine(tiny_model, device="cpu").score(
        [r.question for r in rows], [r.answer for r in rows], conditioning="qa"
    )
    for got, want in zip(scored, expected, strict=True):
        assert len(got) == len(want[: len(got)]) and len(got) >= len(want) - 1  # the engine may score EOS too
        assert torch.allclose(torch.tensor(got), torch.tensor(want[: len(got)]), atol=1e-4)


def _changed(a: Path, b: Path) -> bool:
    x, y = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return any(not torch.equal(x[k], y[k]) for k in x)


def test_a_full_mask_trains_nothing_and_a_threshold_mask_trains(tiny_model: Path, tmp_path: Path) -> None:
    rows = sft_rows()
    # A random tiny model gives every token ~4.6 nats (ln 99): τ = 0.1 masks them all, τ = 50 none.
    train_sft(
        rows,
        tiny_model,
        tmp_path / "none",
        SFTSpec(steps=3, batch_size=8, lr=3e-3, token_weighting="mask", token_nll_threshold=0.1),
    )
    assert not _changed(tiny_model, tmp_path / "none")
    result = train_sft(
        rows,
        tiny_model,
        tmp_path / "all",
        SFTSpec(steps=3, batch_size=8, lr=3e-3, token_weighting="mask", token_nll_threshold=50),
    )
    assert _changed(tiny_model, tmp_path / "all")
    assert [m["token_weight_mean"] for m in result.metrics if "token_weight_mean" in m][:1] == [1.0]


def test_the_spec_refuses_levers_that_cannot_run() -> None:
    with pytest.raises(ValueError, match="token_weighting"):
        SFTSpec(loss="is", token_weighting="mask")
    with pytest.raises(ValueError, match="replay_ratio"):
        SFTSpec(replay_file="x.jsonl")
    with pytest.raises(ValueError):
        SFTSpec(replay_ratio=1.0)
    with pytest.raises(ValueError):
        replay.replay_count(10, -0.1)


def test_the_mixed_set_has_the_ratio_and_keeps_every_data_row() -> None:
    data = [Row(f"d{i}", f"q{i}", "a") for i in range(300)]
    pool = [Row(f"r{i}", f"p{i}", "b") for i in range(40)]  # fewer than needed: the pool cycles
    mixed = replay.mix(data, pool, 0.3, seed=1)
    share = sum(r.id.startswith("replay-") for r in mixed) / len(mixed)
    assert abs(share - 0.3) < 0.005
    assert {r.id for r in mixed} >= {r.id for r in data}
    assert mixed == replay.mix(data, pool, 0.3, seed=1) and mixed != replay.mix(data, pool, 0.3, seed=2)
    with pytest.raises(ValueError, match="replay rows"):
        replay.mix(data, [], 0.3)


def test_replay_samples_are_the_base_s_own_answers_on_the_team_s_prompts(tiny_model: Path) -> None:
    rows = sft_rows()[:6]
    samples = replay.base_samples(tiny_model, rows, seed=0)
    assert [r.question for r in samples] == [r.question for r in rows]
    assert [r.answer for r in samples] != [r.answer for r in rows]
    # what the base itself wrote: its own log-prob of each sample beats that of the expert answer
    engine = HFEngine(tiny_model, device="cpu")
    own = engine.score([r.question for r in samples], [r.answer or " " for r in samples], conditioning="qa")
    expert = engine.score([r.question for r in rows], [r.answer for r in rows], conditioning="qa")
    assert sum(sum(x) / len(x) for x in own) > sum(sum(x) / len(x) for x in expert)


def test_sft_trains_on_the_mixed_set(tiny_model: Path, tmp_path: Path) -> None:
    from rewriter.formats import write_jsonl

    rows = sft_rows()
    write_jsonl(tmp_path / "replay.jsonl", [{"question": f"{i}+1", "answer": f"#{i + 1}"} for i in range(5)])
    spec = SFTSpec(steps=1, batch_size=4, replay_ratio=0.5, replay_file=str(tmp_path / "replay.jsonl"))
    assert train_sft(rows, tiny_model, tmp_path / "out", spec).rows == 2 * len(rows)
