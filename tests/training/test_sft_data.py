"""SFT's data: QA prompts for rows (prompt_completion prompts kept), and the generator log-probs the collator places
exactly on the completion tokens."""

from __future__ import annotations

import torch
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from rewriter.records import Row
from training.sft_data import BehaviorCollator, align_behavior, to_examples


def test_collator_places_behavior_logprobs_at_label_positions() -> None:
    inner = DataCollatorForLanguageModeling(pad_token_id=0)
    examples = [
        {
            "input_ids": [1, 5, 6, 7, 2],
            "labels": [-100, -100, 6, 7, 2],
            "behavior_logprobs": [-0.1, -0.2, -0.3],
        },
        {"input_ids": [1, 5, 8], "labels": [-100, 5, 8], "behavior_logprobs": None},  # expert row
        {
            "input_ids": [1, 9, 9, 2],
            "labels": [-100, -100, 9, 2],
            "behavior_logprobs": [-0.5],
        },  # wrong length
    ]
    batch = BehaviorCollator(inner)(examples)
    assert batch["labels"].shape == batch["behavior_logprobs"].shape == (3, 5)
    expected = torch.tensor(
        [[0.0, 0.0, -0.1, -0.2, -0.3], [0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]
    )
    assert torch.allclose(batch["behavior_logprobs"], expected)
    # where behavior is recorded, it sits exactly on the tokens that carry a loss
    recorded = batch["behavior_logprobs"][0] != 0
    assert torch.equal(recorded, batch["labels"][0] != -100)
    assert align_behavior([-100, 3, 4], [-1.0, -2.0]) == [0.0, -1.0, -2.0]


def test_examples_use_the_qa_prompt_and_keep_prompt_completion_prompts() -> None:
    rows = [Row("a", "1+1", "1+1=2 #2"), Row("b", "Q: 2+2\nA:", " 4", schema="prompt_completion")]
    examples = to_examples(rows, behavior=True)
    assert examples[0] == {
        "prompt": "Problem:\n1+1\n\nAnswer:\n",
        "completion": "1+1=2 #2",
        "behavior_logprobs": None,
    }
    assert examples[1]["prompt"] == "Q: 2+2\nA:"
    assert to_examples(rows, "Q: {question}\nA: ")[0]["prompt"] == "Q: 1+1\nA: "
