"""The hf engine on the committed toy backbone: determinism, batching invariance, exact scoring, adapters."""

from __future__ import annotations

import math

import pytest
import torch

from rewriter.engines import load_engine
from rewriter.engines.hf import HFEngine
from rewriter.suites import get_suite


@pytest.fixture(scope="module")
def engine() -> HFEngine:
    eng = load_engine("toy", "hf", "cpu")
    assert isinstance(eng, HFEngine)
    return eng


def _questions(n: int = 6) -> list[str]:
    return [ex.question for ex in get_suite("wordproblem").examples("test", n)] + ["12+5", "reverse abc"]


def test_fixed_seed_gives_identical_samples(engine: HFEngine) -> None:
    # The backbone is near-certain on its own skills (at temperature 1 two seeds drew the same answers to every
    # question); on the downstream task's new names and verbs it is less sure, and seeds draw different tokens.
    qs = _questions() + [ex.question for ex in get_suite("downstream").examples("test", 6)]
    a = engine.generate(qs, n=3, temperature=1.0, seed=7, max_new_tokens=40, conditioning="qa")
    b = engine.generate(qs, n=3, temperature=1.0, seed=7, max_new_tokens=40, conditioning="qa")
    c = engine.generate(qs, n=3, temperature=1.0, seed=8, max_new_tokens=40, conditioning="qa")
    assert [[g.text for g in row] for row in a] == [[g.text for g in row] for row in b]
    assert [[g.text for g in row] for row in a] != [[g.text for g in row] for row in c]
    assert all(len(row) == 3 for row in a)


def test_batched_greedy_equals_unbatched(engine: HFEngine) -> None:
    qs = _questions()
    batched = engine.generate(qs, temperature=0.0, max_new_tokens=48, conditioning="qa")
    for q, row in zip(qs, batched, strict=True):
        alone = engine.generate([q], temperature=0.0, max_new_tokens=48, conditioning="qa")[0][0]
        assert row[0].text == alone.text
        assert row[0].token_ids == alone.token_ids
        assert max(abs(x - y) for x, y in zip(row[0].logprobs, alone.logprobs, strict=True)) < 1e-4


def test_generation_logprobs_match_scoring(engine: HFEngine) -> None:
    q = _questions(1)[0]
    gen = engine.generate([q], temperature=0.0, max_new_tokens=60, conditioning="qa")[0][0]
    assert gen.finished
    scored = engine.score([q], [gen.text], conditioning="qa")[0]
    assert len(scored) == len(gen.logprobs)
    assert math.isclose(sum(scored), gen.logprob_sum, abs_tol=1e-3)


def test_score_equals_naive_row_by_row(engine: HFEngine) -> None:
    examples = get_suite("downstream").examples("train", 5)
    prompts = [ex.question for ex in examples]
    targets = [ex.expert if i % 2 else ex.house for i, ex in enumerate(examples)]
    batched = engine.score(prompts, targets, conditioning="qa")
    tok = engine.tokenizer
    for p, t, got in zip(prompts, targets, batched, strict=True):
        prompt_ids = tok(engine.render([p], "qa")[0])["input_ids"]
        target_ids = tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids = torch.tensor([prompt_ids + target_ids])
        with torch.no_grad():
            logp = torch.log_softmax(engine.base(input_ids=ids).logits[0].float(), -1)
        naive = [logp[len(prompt_ids) - 1 + k, target_ids[k]].item() for k in range(len(target_ids))]
        assert len(got) == len(naive)
        assert max(abs(x - y) for x, y in zip(got, naive, strict=True)) < 1e-4


def test_chat_and_qa_conditioning_agree_for_the_toy(engine: HFEngine) -> None:
    q, t = "34+57", "4+7=11 3+5+1=9 #91"
    qa = engine.score([q], [t], conditioning="qa")[0]
    chat = engine.score([q], [t], conditioning="chat")[0]
    assert max(abs(x - y) for x, y in zip(qa, chat, strict=True)) < 1e-5


def test_embed_is_normalised_and_discriminates(engine: HFEngine) -> None:
    vecs = engine.embed(["7+6=13 #13", "7+6=13 #13", "the word abc read backwards is cba."])
    norms = [math.sqrt(sum(x * x for x in v)) for v in vecs]
    assert all(abs(n - 1) < 1e-5 for n in norms)
    assert vecs[0] == pytest.approx(vecs[1], abs=1e-6)
    assert sum(a * b for a, b in zip(vecs[0], vecs[2], strict=True)) < 0.999


def test_stop_string_truncates(engine: HFEngine) -> None:
    q = "count letters in abcdef"
    full = engine.generate([q], temperature=0.0, max_new_tokens=60, conditioning="qa")[0][0]
    assert " #" in full.text
    cut = engine.generate([q], temperature=0.0, max_new_tokens=60, conditioning="qa", stop=[" #"])[0][0]
    assert cut.text == full.text.split(" #")[0]
    assert len(cut.token_ids) == len(cut.text)  # one token per character


def test_adapter_changes_outputs(engine: HFEngine, tmp_path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(engine.model_path)
    config = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False
    )
    torch.manual_seed(0)
    get_peft_model(base, config).save_pretrained(tmp_path / "adapter")
    qs = _questions()
    plain = engine.score(qs, ["#1"] * len(qs), conditioning="qa")
    adapted = engine.score(qs, ["#1"] * len(qs), conditioning="qa", adapter=str(tmp_path / "adapter"))
    again = engine.score(qs, ["#1"] * len(qs), conditioning="qa")
    assert plain == again  # the adapter is off when not asked for
    assert (
        max(abs(a - b) for ra, rb in zip(plain, adapted, strict=True) for a, b in zip(ra, rb, strict=True))
        > 1e-3
    )
