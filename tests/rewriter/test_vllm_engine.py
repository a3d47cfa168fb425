"""The vLLM engine against the hf engine on the same model (GPU only: skipped without CUDA)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="the vllm engine needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def engines():
    pytest.importorskip("vllm", reason="install the gpu extra: pip install '.[gpu]'")
    from rewriter.backbones import resolve_model
    from rewriter.engines.hf import HFEngine
    from rewriter.engines.vllm import VLLMEngine

    path = resolve_model("toy")
    return HFEngine(path, device="cuda", dtype=torch.float32), VLLMEngine(path, gpu_memory_utilization=0.3)


def test_scoring_parity(engines) -> None:
    hf, vl = engines
    prompts = ["34+57", "reverse pen", "kim has 77 cups and finds 57 more. how many cups now?"]
    targets = ["4+7=11 3+5+1=9 #91", "p1 e2 n3 | n3 e2 p1 #nep", "The result is 134."]
    a = hf.score(prompts, targets, conditioning="qa")
    b = vl.score(prompts, targets, conditioning="qa")
    for x, y in zip(a, b, strict=True):
        assert len(x) == len(y)
        assert max(abs(u - v) for u, v in zip(x, y, strict=True)) < 2e-2


def test_greedy_parity(engines) -> None:
    hf, vl = engines
    prompts = ["12+5", "larger of 347 and 382", "count letters in abc"]
    a = hf.generate(prompts, temperature=0.0, max_new_tokens=48, conditioning="qa")
    b = vl.generate(prompts, temperature=0.0, max_new_tokens=48, conditioning="qa")
    assert [r[0].text for r in a] == [r[0].text for r in b]
