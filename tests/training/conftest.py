"""Shared fixtures of the training tests: one torch thread, a tiny random Llama, the committed toy as an engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM

from rewriter.backbones import resolve_model
from rewriter.engines.hf import HFEngine
from training.toy_backbone import build_config, build_tokenizer


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    # The 2 cores are shared: two intra-op threads on a busy machine ran GRPO ~8x slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Llama with the toy's tokenizer (BOS added by its post-processor, like the real toy)."""
    tokenizer = build_tokenizer()
    config = build_config(tokenizer)
    config.hidden_size, config.intermediate_size, config.num_hidden_layers = 32, 64, 2
    config.num_attention_heads = config.num_key_value_heads = 2
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def base() -> HFEngine:
    return HFEngine(resolve_model("toy"), device="cpu")
