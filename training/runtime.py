"""What every training run here shares around its TRL trainer: the rows it reads, the model and tokenizer it loads,
its LoRA config, the trainer arguments for this machine, and the files it leaves beside the weights.

Used by :mod:`training.sft` and :mod:`training.grpo` alike; neither imports the other for these.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase, TrainingArguments

from rewriter.formats import read_rows
from rewriter.records import Row


def load_rows(data: str | Path | Sequence[Row]) -> list[Row]:
    """Rows from a JSONL path in any of our schemas (a rewrite output included), or the parsed rows as given.

    >>> [r.id for r in load_rows([Row("a", "2+2", "4")])]
    ['a']
    """
    if isinstance(data, str | Path):
        return read_rows(data)[1]
    return list(data)


def load_model(model_path: str | Path) -> tuple[Any, PreTrainedTokenizerBase]:
    """The causal LM at ``model_path`` in fp32 and its tokenizer, padding with EOS when it has no pad token."""
    tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    return model, tokenizer


def lora_config(r: int, alpha: int) -> LoraConfig:
    """A LoRA on every linear layer but the output layer: PEFT leaves ``lm_head`` out of "all-linear", and vLLM
    drops a LoRA'd ``lm_head`` anyway.

    >>> config = lora_config(16, 32)
    >>> config.r, config.lora_alpha, config.target_modules
    (16, 32, 'all-linear')
    """
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


# transformers 5.x renamed gradient checkpointing (the old name warns); TRL's configs default it on
CHECKPOINTING = (
    "activation_checkpointing"
    if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
    else "gradient_checkpointing"
)


def device_arguments() -> dict[str, Any]:
    """TrainingArguments every trainer here needs: CPU when there is no GPU, fp32 (bf16 defaults on even on a
    CPU), no gradient checkpointing (25%-2x slower on the toy), a log line per step, no checkpoints, no trackers.

    >>> args = device_arguments()
    >>> args["bf16"], args["save_strategy"], args["logging_steps"], args[CHECKPOINTING]
    (False, 'no', 1, False)
    """
    cpu = not torch.cuda.is_available()
    return {
        "use_cpu": cpu,
        "bf16": False,
        "fp16": False,
        CHECKPOINTING: False,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "disable_tqdm": True,
        "dataloader_pin_memory": not cpu,
    }


def copy_model_settings(model_dir: str | Path, out_dir: str | Path) -> None:
    """Keep the base's ``rewriter.json`` (templates) beside a full fine-tuned model, so engines render the same."""
    source = Path(model_dir) / "rewriter.json"
    if source.exists():
        shutil.copyfile(source, Path(out_dir) / "rewriter.json")


def write_training_json(out: Path, **content: Any) -> None:
    """``out/training.json``: the run's spec and results, NaN and inf written as null (they are not JSON).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_training_json(Path(folder), kind="sft", result={"metrics": [{"loss": float("nan")}]})
    ...     print((Path(folder) / "training.json").read_text().replace("\\n", "").replace(" ", ""))
    {"kind":"sft","result":{"metrics":[{"loss":null}]}}
    """

    def clean(value: Any) -> Any:  # NaN/inf are not JSON
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    (out / "training.json").write_text(json.dumps(clean(content), indent=2))
