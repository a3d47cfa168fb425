"""The ``vllm`` engine (GPU only): vLLM's ``LLM`` with LoRA adapters per request (DESIGN §3.1).

- generation: ``SamplingParams(n, temperature, top_p, max_tokens, seed, stop, logprobs=0)`` — ``logprobs=0`` returns
  the sampled token's log-prob; ``logprobs_mode="raw_logprobs"`` makes it the model's own (temperature-1)
  log-prob, the same convention as the ``hf`` engine.
- scoring: one pass with ``prompt_logprobs=0`` over prompt+target token ids, ``max_tokens=1``; the target's
  log-probs are read from the prompt positions.
- adapters: ``enable_lora=True`` and a ``LoRARequest`` per call. Adapters must not target ``lm_head`` (vLLM drops it
  from prompt log-probs); our LoRA configs never do.
- embeddings: mean-pooled last hidden state from the transformers model (a vLLM pooling runner would be a second
  engine on the same GPU); loaded lazily on first use.

vLLM must run in a non-daemon process: Celery's pool children are daemonic, so workers run it in the supervised
child process. Requires ``pip install '.[gpu]'`` (vLLM within the range TRL supports) and CUDA; tests are marked
``gpu``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewriter import prompts as templates
from rewriter.engines.base import (
    Conditioning,
    Generation,
    Prompt,
    encode_prompts,
    encode_targets,
    render_prompts,
)

MAX_LORA_RANK = 64


class VLLMEngine:
    name = "vllm"

    def __init__(
        self,
        model_path: str | Path,
        *,
        qa_template: str = templates.QA_TEMPLATE,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        seed: int = 0,
    ) -> None:
        from vllm import LLM

        self.model_path = str(model_path)
        self.qa_template = qa_template
        kwargs: dict[str, Any] = {
            "model": self.model_path,
            "enable_lora": True,
            "max_lora_rank": MAX_LORA_RANK,
            "gpu_memory_utilization": gpu_memory_utilization,
            "logprobs_mode": "raw_logprobs",
            "seed": seed,
        }
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self._adapters: dict[str, int] = {}
        self._embedder: Any = None

    def render(self, prompts: Sequence[Prompt], conditioning: Conditioning) -> list[str]:
        return render_prompts(prompts, conditioning, self.qa_template, self.tokenizer)

    def _prompt_ids(self, prompts: Sequence[Prompt], conditioning: Conditioning) -> list[list[int]]:
        return encode_prompts(prompts, conditioning, self.qa_template, self.tokenizer)

    def _lora(self, adapter: str | None) -> Any:
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        path = str(Path(adapter).resolve())
        if path not in self._adapters:
            self._adapters[path] = len(self._adapters) + 1  # vLLM adapter ids start at 1
        return LoRARequest(f"adapter-{self._adapters[path]}", self._adapters[path], path)

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
        from vllm import SamplingParams, TokensPrompt

        greedy = temperature <= 0
        params = SamplingParams(
            n=1 if greedy else n,
            temperature=0.0 if greedy else temperature,
            top_p=1.0 if greedy else top_p,
            max_tokens=max_new_tokens,
            seed=seed,
            stop=stop or None,
            logprobs=0,
        )
        requests = [TokensPrompt(prompt_token_ids=ids) for ids in self._prompt_ids(prompts, conditioning)]
        outputs = self.llm.generate(requests, params, lora_request=self._lora(adapter), use_tqdm=False)
        eos = self.tokenizer.eos_token_id
        results: list[list[Generation]] = []
        for output in outputs:
            row = []
            for completion in output.outputs:
                ids = list(completion.token_ids)
                logprobs = [
                    step[token].logprob for step, token in zip(completion.logprobs or [], ids, strict=False)
                ]
                finished = completion.finish_reason == "stop"
                row.append(Generation(completion.text, tuple(ids), tuple(logprobs), finished or eos in ids))
            results.append(row * (n if greedy else 1))
        return results

    def score(
        self,
        prompts: Sequence[Prompt],
        targets: list[str],
        *,
        conditioning: Conditioning = "raw",
        adapter: str | None = None,
    ) -> list[list[float]]:
        from vllm import SamplingParams, TokensPrompt

        # One rule for the target's tokens, shared with SFT (base.encode_targets, docs/rewriting.md).
        encoded = encode_targets(prompts, targets, conditioning, self.qa_template, self.tokenizer)
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        requests = [TokensPrompt(prompt_token_ids=ids) for ids, _ in encoded]
        outputs = self.llm.generate(requests, params, lora_request=self._lora(adapter), use_tqdm=False)
        scores = []
        for output, (ids, start) in zip(outputs, encoded, strict=True):
            positions = output.prompt_logprobs[start:]  # entry i scores token i given tokens < i
            scores.append([step[token].logprob for step, token in zip(positions, ids[start:], strict=True)])
        return scores

    def embed(self, texts: list[str]) -> list[list[float]]:
        if self._embedder is None:
            from rewriter.engines.hf import HFEngine

            self._embedder = HFEngine(self.model_path, device="cuda", qa_template=self.qa_template)
        return list(self._embedder.embed(texts))
