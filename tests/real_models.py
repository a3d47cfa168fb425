"""Small models with the shapes of real ones: a Qwen2-family and a Llama-family causal LM built from a config (random
init, 2 layers, hidden 32), a byte-level BPE tokenizer trained here with ``tokenizers`` on toy-world text, and the
chat templates of their families (ChatML with a default system prompt; Llama-3 headers and ``<|eot_id|>``).

A random model solves nothing: these exist for token shapes and bookkeeping (BPE merges across the prompt/target
boundary, system prompts, multi-turn rows, assistant-only loss through a real template), not for accuracy.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from rewriter.suites import get_suite

# Qwen2's template: a default system prompt when the conversation has none, each turn `<|im_start|>role\n...<|im_end|>`.
# The `{% generation %}` markers are not used by the project (it finds the target by its own rule, docs/rewriting.md):
# the tests use them as an independent oracle of which tokens are the assistant's.
CHATML = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] }}<|im_end|>{% endgeneration %}"
    "{% else %}{{ message['content'] }}<|im_end|>{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Llama-3's template: BOS, a header per turn, the content trimmed, `<|eot_id|>` after each turn.
LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] | trim }}<|eot_id|>{% endgeneration %}"
    "{% else %}{{ message['content'] | trim }}<|eot_id|>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
# The families' pre-tokenizer patterns (Qwen2 splits digits one by one, Llama-3 in groups of up to three).
QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA3_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

FAMILIES = ("qwen2", "llama3")


def corpus() -> list[str]:
    """Toy-world text (questions, expert prose, house-style answers, laid out as QA prompts) and chat-ish words."""
    lines = []
    for suite in ("downstream", "wordproblem", "add", "reverse"):
        for ex in get_suite(suite).examples("train", 150):
            lines += [
                f"Problem:\n{ex.question}\n\nAnswer:\n{ex.house}",
                ex.expert,
                f"{ex.expert}\n\n\n#### {ex.gold}",
            ]
    lines += ["system user assistant You are a helpful assistant.", "Answer in one line.", r"\boxed{7}"] * 20
    return lines


def train_tokenizer(
    specials: list[str], bos: str | None, eos: str, pad: str, template: str, split: str
) -> PreTrainedTokenizerFast:
    """A byte-level BPE on :func:`corpus` with the family's pre-tokenizer split, wrapped with its special tokens."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(split), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus(), trainer)
    if bos is not None:  # Llama-3's post-processor adds BOS to plain text, as the real one does
        bpe.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bpe.token_to_id(bos))]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=bos, eos_token=eos, pad_token=pad, chat_template=template
    )


def build(family: str, out: Path) -> Path:
    """Write a ``family`` model directory (weights, config, tokenizer with its chat template) to ``out``."""
    torch.manual_seed(0)
    if family == "qwen2":
        # Qwen2: no BOS, <|im_end|> ends a turn and is the EOS generation stops on; <|endoftext|> pads.
        tokenizer = train_tokenizer(
            ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
            None,
            "<|im_end|>",
            "<|endoftext|>",
            CHATML,
            QWEN2_SPLIT,
        )
        config = Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512, tie_word_embeddings=True,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        model = Qwen2ForCausalLM(config)
    elif family == "llama3":
        specials = [
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
        ]
        tokenizer = train_tokenizer(
            specials, "<|begin_of_text|>", "<|eot_id|>", "<|end_of_text|>", LLAMA3, LLAMA3_SPLIT
        )
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512, tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        model = LlamaForCausalLM(config)
    else:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
