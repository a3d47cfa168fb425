"""The ``hf`` engine: transformers generation and teacher-forced scoring, batched and length-bucketed.

Prompts are sorted by length and cut into batches under a token budget, so padding stays small; results come back
in the caller's order. Generation pads on the left (the model continues every row at the same position), keeps
the KV cache and drops ended rows from the batch; scoring pads on the right and reads every target's
log-probs from one forward pass.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from rewriter import prompts as templates
from rewriter.engines.base import (
    Conditioning,
    Generation,
    Prompt,
    encode_prompts,
    encode_targets,
    render_prompts,
)

# Padded tokens per forward pass. 16k keeps the toy's logits ([B, T, V] fp32) under ~10 MB while filling 2 cores.
GENERATE_TOKEN_BUDGET = 16_384
SCORE_TOKEN_BUDGET = 32_768
# Ended rows leave the decoding batch once the live ones drop to this share of it: copying the KV cache on every
# ending (several per step on a big batch) cost more than the few dead rows decoded in between.
COMPACT_BELOW = 0.75


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _buckets(lengths: Sequence[int], budget: int, rows_per_item: int = 1) -> Iterator[list[int]]:
    """Indices sorted by length, cut into batches whose padded size stays under ``budget`` tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for i in order:
        longest = max([lengths[j] for j in batch] + [lengths[i]])
        if batch and longest * (len(batch) + 1) * rows_per_item > budget:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _sample(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator
) -> torch.Tensor:
    """One token per row of ``logits`` [L, V]: softmax at ``temperature``, restricted to the top-``top_p`` nucleus."""
    probs = F.softmax(logits / temperature, dim=-1)  # [L, V]
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs > top_p  # the most likely token always stays
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


class HFEngine:
    """A transformers causal LM, optionally with PEFT LoRA adapters switched per call."""

    name = "hf"

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str = "auto",
        qa_template: str = templates.QA_TEMPLATE,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.model_path = str(model_path)
        self.device = resolve_device(device)
        self.tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(self.model_path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.base: PreTrainedModel = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=dtype)
        self.base.to(self.device)  # type: ignore[arg-type]  # transformers' stubs type .to() oddly
        self.base.eval()
        self.model: Any = self.base  # becomes a PeftModel once an adapter is loaded
        # transformers 5.x renamed the KV-cache argument (``past_key_values`` warns from 5.24 and goes in 5.40)
        forward = inspect.signature(self.base.forward).parameters
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"
        self.qa_template = qa_template
        self._adapters: dict[str, str] = {}

    # -- prompts -------------------------------------------------------------------------------------------------

    def render(self, prompts: Sequence[Prompt], conditioning: Conditioning) -> list[str]:
        return render_prompts(prompts, conditioning, self.qa_template, self.tokenizer)

    def _encode_prompts(self, prompts: Sequence[Prompt], conditioning: Conditioning) -> list[list[int]]:
        return encode_prompts(prompts, conditioning, self.qa_template, self.tokenizer)

    # -- adapters ------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _using(self, adapter: str | None) -> Iterator[Any]:
        if adapter is None:
            if self.model is self.base:
                yield self.base
            else:
                with self.model.disable_adapter():
                    yield self.model
            return
        name = self._load_adapter(adapter)
        self.model.set_adapter(name)
        yield self.model

    def _load_adapter(self, path: str) -> str:
        path = str(Path(path).resolve())
        if path in self._adapters:
            return self._adapters[path]
        from peft import PeftModel

        name = f"a{len(self._adapters)}"
        if self.model is self.base:
            self.model = PeftModel.from_pretrained(self.base, path, adapter_name=name).to(self.device).eval()
        else:
            self.model.load_adapter(path, adapter_name=name)
            self.model.to(self.device).eval()
        self._adapters[path] = name
        return name

    # -- generation ----------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 128,
        seed: int = 0,
        stop: list[str] | None = None,
        conditioning: Conditioning = "raw",
        adapter: str | None = None,
    ) -> list[list[Generation]]:
        if n < 1 or max_new_tokens < 1:
            raise ValueError("n and max_new_tokens must be at least 1")
        encoded = self._encode_prompts(prompts, conditioning)
        results: list[list[Generation]] = [[] for _ in prompts]
        greedy = temperature <= 0
        lengths = [len(ids) + max_new_tokens for ids in encoded]
        with self._using(adapter) as model:
            for batch_no, batch in enumerate(_buckets(lengths, GENERATE_TOKEN_BUDGET, 1 if greedy else n)):
                generator = torch.Generator(device=self.device).manual_seed(seed * 1_000_003 + batch_no)
                rows = self._generate_batch(
                    model, [encoded[i] for i in batch], n=1 if greedy else n, greedy=greedy,
                    temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, stop=stop,
                    generator=generator,
                )  # fmt: skip
                for i, generations in zip(batch, rows, strict=True):
                    results[i] = generations * (n if greedy else 1)
        return results

    def _generate_batch(
        self,
        model: Any,
        batch: list[list[int]],
        *,
        n: int,
        greedy: bool,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        stop: list[str] | None,
        generator: torch.Generator,
    ) -> list[list[Generation]]:
        """Decode ``batch`` (each prompt ``n`` times) with a KV cache, dropping each row from the batch as it ends.

        transformers' ``generate`` keeps a finished row in the batch until the longest one ends; on short answers of
        uneven length that doubled the work (bench/engine.py). Here ended rows leave the batch in groups
        (``COMPACT_BELOW``), so a step runs at most a quarter more rows than are still going.
        """
        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        width = max(len(ids) for ids in batch)
        input_ids = torch.tensor(
            [[pad] * (width - len(ids)) + ids for ids in batch], device=self.device
        )  # [B, P]
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=self.device)
        input_ids, mask = input_ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)  # [R, P], R = B*n
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # [R, P]: left padding does not shift positions
        cache = DynamicCache(config=model.config)
        logits = (
            model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                **{self._cache_arg: cache},
                use_cache=True,
                logits_to_keep=1,  # the prompt's other positions would cost [R, P, V] logits for nothing
            )
            .logits[:, -1]
            .float()
        )  # [R, V]
        rows = input_ids.shape[0]
        tokens: list[list[int]] = [[] for _ in range(rows)]
        logprobs: list[list[float]] = [[] for _ in range(rows)]
        live = torch.arange(rows, device=self.device)  # original row of each batch position
        # [L] positions whose row has not ended (ended ones stay in the batch until the next compaction)
        going = torch.ones(rows, dtype=torch.bool, device=self.device)
        next_pos = positions[:, -1] + 1  # [R]
        for step in range(max_new_tokens):
            logp = F.log_softmax(logits, dim=-1)  # [L, V] the model's own distribution (temperature 1)
            chosen = logits.argmax(-1) if greedy else _sample(logits, temperature, top_p, generator)  # [L]
            chosen_lp = logp.gather(-1, chosen[:, None])[:, 0]  # [L]
            for row, token, lp, on in zip(
                live.tolist(), chosen.tolist(), chosen_lp.tolist(), going.tolist(), strict=True
            ):
                if on:
                    tokens[row].append(token)
                    logprobs[row].append(lp)
            going &= chosen != eos  # [L]
            still = int(going.sum())
            if step == max_new_tokens - 1 or still == 0:
                break
            if still < len(live) and still <= COMPACT_BELOW * len(live):
                keep = going.nonzero()[:, 0]
                cache.batch_select_indices(keep)
                live, chosen, mask, next_pos, going = (t[keep] for t in (live, chosen, mask, next_pos, going))
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
            logits = (
                model(
                    input_ids=chosen[:, None],
                    attention_mask=mask,
                    position_ids=next_pos[:, None],
                    **{self._cache_arg: cache},
                    use_cache=True,
                    logits_to_keep=1,
                )
                .logits[:, -1]
                .float()
            )
            next_pos = next_pos + 1
        return [
            [self._finish(tokens[b * n + k], logprobs[b * n + k], stop) for k in range(n)]
            for b in range(len(batch))
        ]

    def _finish(self, ids: list[int], logprobs: list[float], stop: list[str] | None) -> Generation:
        eos = self.tokenizer.eos_token_id
        finished = eos in ids
        if finished:
            cut = ids.index(eos)
            ids, logprobs = ids[: cut + 1], logprobs[: cut + 1]
            body = ids[:cut]
        else:
            body = ids
        text = str(self.tokenizer.decode(body, skip_special_tokens=True))
        for s in stop or []:
            if s and s in text:
                text = text[: text.index(s)]
                # keep the fewest tokens that still decode to the kept text
                decode = self.tokenizer.decode
                keep = next(
                    k
                    for k in range(len(body) + 1)
                    if len(decode(body[:k], skip_special_tokens=True)) >= len(text)
                )
                ids, logprobs, finished = body[:keep], logprobs[:keep], True
        return Generation(text, tuple(ids), tuple(logprobs), finished)

    # -- scoring -------------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def score(
        self,
        prompts: Sequence[Prompt],
        targets: list[str],
        *,
        conditioning: Conditioning = "raw",
        adapter: str | None = None,
    ) -> list[list[float]]:
        # One rule for the target's tokens, shared with SFT (base.encode_targets, docs/rewriting.md).
        encoded = encode_targets(prompts, targets, conditioning, self.qa_template, self.tokenizer)
        lengths = [len(ids) for ids, _ in encoded]
        out: list[list[float]] = [[] for _ in prompts]
        with self._using(adapter) as model:
            for batch in _buckets(lengths, SCORE_TOKEN_BUDGET):
                width = max(lengths[i] for i in batch)
                pad = self.tokenizer.pad_token_id
                rows = [encoded[i][0] for i in batch]
                input_ids = torch.tensor(
                    [r + [pad] * (width - len(r)) for r in rows], device=self.device
                )  # [B, T]
                attention = torch.tensor(
                    [[1] * len(r) + [0] * (width - len(r)) for r in rows], device=self.device
                )
                logits = model(input_ids=input_ids, attention_mask=attention).logits.float()  # [B, T, V]
                logprobs = F.log_softmax(logits[:, :-1], dim=-1)  # [B, T-1, V] predicting tokens 1..T-1
                token_lp = logprobs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # [B, T-1]
                for row, i in enumerate(batch):
                    start = encoded[i][1] - 1  # position whose logits predict the first target token
                    out[i] = token_lp[row, start : lengths[i] - 1].tolist()
        return out

    # -- embeddings ----------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> list[list[float]]:
        encoded = [self.tokenizer(t)["input_ids"] for t in texts]
        out: list[list[float]] = [[] for _ in texts]
        for batch in _buckets([len(e) for e in encoded], SCORE_TOKEN_BUDGET):
            width = max(len(encoded[i]) for i in batch)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.tensor(
                [encoded[i] + [pad] * (width - len(encoded[i])) for i in batch], device=self.device
            )
            mask = torch.tensor(
                [[1] * len(encoded[i]) + [0] * (width - len(encoded[i])) for i in batch], device=self.device
            )
            hidden = self.base(
                input_ids=input_ids, attention_mask=mask, output_hidden_states=True
            ).hidden_states[-1]
            pooled = (hidden.float() * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)  # [B, H]
            pooled = F.normalize(pooled, dim=-1)
            for row, i in enumerate(batch):
                out[i] = pooled[row].tolist()
        return out
