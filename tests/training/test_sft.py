"""SFT with TRL's SFTTrainer: every loss trains, LoRA and full both save what engines load, the `is` weights and their
alignment to the completion tokens are exact, hooks stream metrics, evaluate snapshots and stop training.

Most tests use a tiny random Llama (hidden 32, 2 layers) with the toy tokenizer: a step takes ~0.1 s.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rewriter.backbones import resolve_model
from rewriter.engines.hf import HFEngine
from rewriter.formats import read_rows, write_jsonl
from rewriter.records import Row
from rewriter.suites import get_suite
from tests.factories import sft_rows
from training.sft import SFTSpec, importance_weights, train_sft

pytestmark = pytest.mark.usefixtures("one_thread")


def mean_nll(engine: HFEngine, rows: list[Row], adapter: str | None = None) -> float:
    scored = engine.score(
        [r.question for r in rows], [r.answer for r in rows], conditioning="qa", adapter=adapter
    )
    return -sum(sum(lp) for lp in scored) / sum(len(lp) for lp in scored)


def weights(path: Path, name: str) -> dict[str, torch.Tensor]:
    return load_file(str(path / name))


# ---------------------------------------------------------------------------------------------------- pure parts


def test_importance_weights_match_a_hand_computed_example() -> None:
    p_theta = torch.tensor([0.5, 0.9, 0.1, 0.3])
    p_behavior = torch.tensor([0.25, 0.3, 1.0, 0.6])  # 1.0: an expert token
    # ratios 2.0, 3.0, 0.1, 0.5 -> clipped at c = 2
    logp = torch.log(p_theta).requires_grad_()
    w = importance_weights(logp, torch.log(p_behavior), clip=2.0)
    assert torch.allclose(w, torch.tensor([2.0, 2.0, 0.1, 0.5]), atol=1e-6)
    assert not w.requires_grad  # sg(p_θ): the weight is a constant of the gradient
    w_tight = importance_weights(logp, torch.log(p_behavior), clip=0.4)
    assert torch.allclose(w_tight, torch.tensor([0.4, 0.4, 0.1, 0.4]), atol=1e-6)


def test_spec_refuses_what_cannot_run() -> None:
    with pytest.raises(ValueError):
        SFTSpec(loss="kl")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="question"):
        SFTSpec(prompt_template="no placeholder")
    with pytest.raises(ValueError):
        SFTSpec(is_clip=0)


# ---------------------------------------------------------------------------------------------------- training


@pytest.mark.parametrize("loss", ["nll", "dft", "is"])
def test_each_loss_lowers_the_nll_and_changes_the_weights(
    loss: str, tiny_model: Path, tmp_path: Path
) -> None:
    rows = sft_rows()
    base = HFEngine(tiny_model, device="cpu")
    before = mean_nll(base, rows)
    spec = SFTSpec(loss=loss, steps=12, batch_size=8, lr=3e-3)  # type: ignore[arg-type]
    result = train_sft(rows, tiny_model, tmp_path / "out", spec)

    after = mean_nll(HFEngine(tmp_path / "out", device="cpu"), rows)
    assert after < before - 0.3, (loss, before, after)
    changed = weights(tmp_path / "out", "model.safetensors")
    original = weights(tiny_model, "model.safetensors")
    assert any(not torch.equal(changed[k], original[k]) for k in original)
    assert [m["step"] for m in result.metrics] == list(range(1, 13))
    assert all(math.isfinite(m["loss"]) for m in result.metrics)
    saved = json.loads((tmp_path / "out" / "training.json").read_text())
    assert saved["spec"]["loss"] == loss and len(saved["result"]["metrics"]) == 12
    if loss == "is":
        assert result.behavior == {"recorded": 24, "expert": 24, "mismatched": 0}
        assert 0 < result.metrics[0]["is_weight_mean"] <= spec.is_clip


def test_is_loss_at_weight_one_equals_nll_and_reads_a_rewrite_file(tiny_model: Path, tmp_path: Path) -> None:
    """With p_β recorded as the model's own p_θ, every weight is 1: the first logged `is` loss equals TRL's `nll`.

    Any misalignment of the recorded log-probs with the completion tokens makes weights ≠ 1 and the losses differ.
    The rows go through a rewrite-output JSONL file (meta.generator.token_logprobs), with one stale record.
    """
    rows = sft_rows(16)
    engine = HFEngine(tiny_model, device="cpu")
    own = engine.score([r.question for r in rows], [r.answer for r in rows], conditioning="qa")
    records = []
    for i, (row, logprobs) in enumerate(zip(rows, own, strict=True)):
        # row 0: a record one token short -> trained as an expert row
        generator = {"token_logprobs": logprobs if i else logprobs[:-1]}
        records.append({"question": row.question, "answer": row.answer, "meta": {"generator": generator}})
    path = tmp_path / "rewritten.jsonl"
    write_jsonl(path, records)
    assert read_rows(path)[1][1].raw["meta"]["generator"]["token_logprobs"] == own[1]

    common = {"steps": 1, "batch_size": 16, "lr": 1e-6, "is_clip": 5.0}
    weighted = train_sft(path, tiny_model, tmp_path / "is", SFTSpec(loss="is", **common))
    plain = train_sft(path, tiny_model, tmp_path / "nll", SFTSpec(loss="nll", **common))
    assert weighted.behavior == {"recorded": 15, "expert": 0, "mismatched": 1}
    # row 0 is weighted by p_θ (an expert row), the other 15 by exactly 1
    assert weighted.metrics[0]["is_weight_mean"] < 1.0
    assert weighted.metrics[0]["is_weight_mean"] > 0.9
    row0 = own[0]
    n_tokens = sum(len(lp) for lp in own)
    # row 0's tokens lose (1 - p_θ) of their NLL
    correction = sum((1 - math.exp(lp)) * -lp for lp in row0) / n_tokens
    assert weighted.metrics[0]["loss"] == pytest.approx(plain.metrics[0]["loss"] - correction, rel=1e-4)


@pytest.mark.parametrize("loss", ["nll", "is"])
def test_validation_loss_is_the_completion_nll_of_the_validation_rows(
    loss: str, tiny_model: Path, tmp_path: Path
) -> None:
    """The loss on validation data is logged every `validation_every` steps and at the last one; it is the plain
    token NLL of the validation completions (EOS included, prompt excluded) under the model at that step, whatever
    the training loss: the last one equals the saved model's NLL as the engine scores it, and it falls."""
    rows, valid = sft_rows(32), sft_rows(48)[32:]  # 16 held-out rows: one validation batch
    spec = SFTSpec(loss=loss, steps=5, batch_size=16, lr=3e-3, validation_every=2)  # type: ignore[arg-type]
    result = train_sft(rows, tiny_model, tmp_path / "out", spec, validation=valid)

    checks = [m for m in result.metrics if "eval_loss" in m]
    assert [m["step"] for m in checks] == [2, 4, 5]
    assert all(0.0 <= m["eval_mean_token_accuracy"] <= 1.0 for m in checks)
    assert [m["step"] for m in result.metrics if "loss" in m] == [1, 2, 3, 4, 5]
    tuned = HFEngine(tmp_path / "out", device="cpu")
    assert checks[-1]["eval_loss"] == pytest.approx(mean_nll(tuned, valid), rel=1e-4)
    assert checks[-1]["eval_loss"] < mean_nll(HFEngine(tiny_model, device="cpu"), valid) - 0.3
    saved = json.loads((tmp_path / "out" / "training.json").read_text())
    assert [m["step"] for m in saved["result"]["metrics"] if "eval_loss" in m] == [2, 4, 5]


def test_lora_saves_an_adapter_that_lowers_the_nll(tiny_model: Path, tmp_path: Path) -> None:
    rows = sft_rows()
    spec = SFTSpec(
        loss="nll", lora=True, lora_r=8, lora_alpha=16, steps=20, batch_size=8, lr=2e-2, lr_scheduler="linear"
    )
    train_sft(rows, tiny_model, tmp_path / "lora", spec)

    out = tmp_path / "lora"
    assert (out / "adapter_config.json").exists() and not (out / "model.safetensors").exists()
    adapter = weights(out, "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter.items())  # B starts at zero
    assert not any("lm_head" in k or "embed_tokens" in k for k in adapter)
    config = json.loads((out / "adapter_config.json").read_text())
    targets = {name.rsplit(".", 1)[-1] for name in config["target_modules"]}  # PEFT saves full module names
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    engine = HFEngine(tiny_model, device="cpu")
    assert mean_nll(engine, rows, adapter=str(out)) < mean_nll(engine, rows) - 0.3


@pytest.mark.slow
def test_toy_backbone_default_recipe_fits_house_style(tmp_path: Path) -> None:
    """The DESIGN recipe (full fine-tune, AdamW 1e-4, batch 32) on the real toy, 30 steps: the downstream house-style
    targets get cheaper under the tuned model."""
    examples = get_suite("downstream").examples("train", 200)
    rows = [Row(f"r{i}", ex.question, ex.house, ex.gold) for i, ex in enumerate(examples)]
    base = HFEngine(resolve_model("toy"), device="cpu")
    before = mean_nll(base, rows[:64])
    result = train_sft(rows, "toy", tmp_path / "out", SFTSpec(steps=30))
    after = mean_nll(HFEngine(tmp_path / "out", device="cpu"), rows[:64])
    assert after < before * 0.8, (before, after)
    assert (tmp_path / "out" / "rewriter.json").exists()
    print(
        f"SFT on the toy: {result.train_seconds / 30:.3f} s/step (batch 32), NLL {before:.3f} -> {after:.3f}"
    )
