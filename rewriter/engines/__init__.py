"""Generation and scoring engines behind one interface (``Engine``): ``hf`` (transformers) and ``vllm`` (GPU).

Heavy libraries load here, lazily, so the API process never pays for torch.
"""

from __future__ import annotations

from functools import lru_cache

from rewriter.backbones import model_settings, resolve_model
from rewriter.engines.base import Conditioning, Engine, Generation, mean_nll
from rewriter.prompts import QA_TEMPLATE

ENGINES = ("hf", "vllm")


@lru_cache(maxsize=4)
def load_engine(model: str = "toy", engine: str = "hf", device: str = "auto") -> Engine:
    """Load (once per process) the engine for a model name or directory."""
    path = resolve_model(model)
    qa_template = model_settings(path).get("qa_template", QA_TEMPLATE)
    if engine == "hf":
        from rewriter.engines.hf import HFEngine

        return HFEngine(path, device=device, qa_template=qa_template)
    if engine == "vllm":
        from rewriter.engines.vllm import VLLMEngine

        return VLLMEngine(path, qa_template=qa_template)
    raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")


__all__ = ["Conditioning", "Engine", "Generation", "load_engine", "mean_nll"]


def seed_everything(seed: int) -> None:
    """Seed torch's global generators (CPU and CUDA) for code that samples outside an engine's own seeded calls."""
    import torch

    torch.manual_seed(seed)
