"""The toy backbone's architecture and tokenizer (DESIGN §4.1).

A Llama-family config of ~1M parameters and a character-level tokenizer wrapped as ``PreTrainedTokenizerFast``.
The tokenizer's post-processor adds BOS the way Llama tokenizers do, because TRL tokenizes plain-text prompts with the
tokenizer's defaults: pretraining, rewriting, SFT, GRPO and evaluation then all see the same ``<s>`` prefix (without
it the toy's sampled accuracy fell from 0.93 to 0.61).
"""

from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders, models, processors
from transformers import LlamaConfig, PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
CHARACTERS = "\n" + "".join(chr(c) for c in range(32, 127))  # newline + printable ASCII

# Chat template: one user turn rendered exactly like the QA prompt, so QA and chat conditioning agree for the toy.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}Problem:\n{{ message['content'] }}\n\nAnswer:\n"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for ch in CHARACTERS:
        vocab.setdefault(ch, len(vocab))
    # BPE with no merges splits text into single characters; Fuse joins them back on decode.
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.decoder = decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=512,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_config(tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    # hidden 128, 4 layers, MLP 512, tied embeddings: ~1.06M parameters (4 MB in fp32).
    # 512 positions: the reference skill's prompts (instruction + problem + prose solution) reach ~360 characters.
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


assert len(set(CHARACTERS)) == len(CHARACTERS) and set(string.printable) - set("\t\r\x0b\x0c") <= set(
    CHARACTERS
)
