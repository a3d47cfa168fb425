"""The toy suites as lm-evaluation-harness tasks: local task YAMLs over the suites' test splits.

``write_tasks(DIR, suites, n)`` writes, per suite, ``toy_<suite>.jsonl`` (``qa`` rows with a ``prompt``: the same
model inputs and gold answers :func:`rewriter.evaluation.evaluate` uses) and ``toy_<suite>.yaml``: a
``generate_until`` task read with ``dataset_path: json`` from that file (no hub), greedy, graded by a regex filter
that takes the toy answer (``#933`` in house style, else ``The result is 933``) and ``exact_match``. On the same
rows lm-eval's accuracy therefore equals the built-in evaluator's (``tests/rewriter/test_harness.py`` runs both).
The command is ``rewriter toy harness-tasks -o DIR``; the service reads its tasks from ``REWRITER_HARNESS__TASKS_DIR``.
"""

from __future__ import annotations

import json
from pathlib import Path

from rewriter.evaluation import DEFAULT_N, MAX_NEW_TOKENS
from rewriter.suites import get_suite

# The house answer ends the text ("... #933"); prose says "The result is 933". Both alternatives in one pattern,
# the last match taken: a house answer is always the last (it is anchored at the end), as in answers.extract.
ANSWER_REGEX = r"#\s*([^\s#]+)\s*$|[Tt]he result is\s+([^\s.]+)"


def task_name(suite: str) -> str:
    """The harness task of a toy suite (lm-eval task names are identifiers).

    >>> task_name("downstream-newop")
    'toy_downstream_newop'
    """
    return "toy_" + suite.replace("-", "_")


def task_yaml(name: str, data_file: Path, max_new_tokens: int = MAX_NEW_TOKENS) -> str:
    """The YAML of one task over a local ``{"prompt","gold"}`` JSONL file (JSON is valid YAML, so it is dumped
    as JSON: no quoting rules to get wrong)."""
    config = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file.resolve())}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{prompt}}",
        "doc_to_target": "{{gold}}",
        "target_delimiter": "",
        "num_fewshot": 0,
        "generation_kwargs": {
            "until": [],
            "do_sample": False,
            "temperature": 0.0,
            "max_gen_toks": max_new_tokens,
        },
        "filter_list": [
            {
                "name": "toy-answer",
                "filter": [
                    {"function": "regex", "regex_pattern": ANSWER_REGEX, "group_select": -1},
                    {"function": "take_first"},
                ],
            }
        ],
        "metric_list": [
            {"metric": "exact_match", "aggregation": "mean", "higher_is_better": True, "ignore_case": True}
        ],
        "metadata": {"version": 1.0},
    }
    return json.dumps(config, indent=2) + "\n"


def write_tasks(directory: Path, suites: list[str], n: int = DEFAULT_N, seed: int = 0) -> dict[str, Path]:
    """Write each suite's test split (``n`` rows, the evaluator's own for ``seed``) as a harness task into
    ``directory``; task name → its YAML file."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for suite in suites:
        name = task_name(suite)
        examples = get_suite(suite).examples("test", n, seed, allow_fewer=True)
        data = directory / f"{name}.jsonl"
        # Valid `qa` rows too (question, answer, gold): the file can be uploaded as a team's file.
        rows = [
            {
                "id": f"{name}-{i}",
                "question": e.question,
                "answer": e.house,
                "gold": e.gold,
                "prompt": e.model_input,
            }
            for i, e in enumerate(examples)
        ]
        data.write_text("".join(json.dumps(row) + "\n" for row in rows))
        config = directory / f"{name}.yaml"
        config.write_text(task_yaml(name, data))
        written[name] = config
    return written
