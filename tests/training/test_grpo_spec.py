"""A GRPO spec that cannot run is refused when it is made."""

from __future__ import annotations

import pytest

from training.grpo_spec import GRPOSpec


def test_spec_refuses_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="unknown verifier"):
        GRPOSpec(verifier="nope")
    with pytest.raises(ValueError, match="reference"):
        GRPOSpec(rewrite_template="Problem:\n{question}\n\nRewritten solution:\n")
    with pytest.raises(ValueError):
        GRPOSpec(num_generations=1)
    assert GRPOSpec(prompts_per_step=3, num_generations=4).completions_per_step == 12
