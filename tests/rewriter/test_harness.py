"""lm-evaluation-harness, for real: local task YAMLs built from the toy suites' test splits give the built-in
evaluator's accuracies on the same rows; a task reads a team's file instead of its own data; the hub stays off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rewriter.backbones import resolve_model
from rewriter.engines import load_engine
from rewriter.engines.harness import TaskRequest, run_tasks
from rewriter.evaluation import evaluate
from rewriter.harness import task_name, write_tasks
from rewriter.jobs.eval_run import harness_task_names

SUITES = ["add", "reverse", "downstream"]  # numbers, text, and a task the base half-solves
N = 50


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("harness_tasks")
    write_tasks(directory, SUITES, n=N)
    return directory


def test_the_generated_tasks_are_local_generate_until_tasks(tasks_dir: Path) -> None:
    assert harness_task_names(tasks_dir) == {task_name(s) for s in SUITES}
    config = yaml.safe_load((tasks_dir / "toy_add.yaml").read_text())
    assert config["dataset_path"] == "json" and config["output_type"] == "generate_until"
    data = Path(config["dataset_kwargs"]["data_files"]["test"])
    assert data.is_absolute() and len(data.read_text().splitlines()) == N
    assert config["generation_kwargs"]["do_sample"] is False


def test_harness_accuracies_equal_the_builtin_evaluators(tasks_dir: Path, tmp_path: Path) -> None:
    builtin = evaluate(load_engine("toy", "hf", "cpu"), SUITES, n=N)
    scores = run_tasks(
        str(resolve_model("toy")),
        [TaskRequest(task_name(s)) for s in SUITES],
        tasks_dir=tasks_dir,
        work=tmp_path,
        device="cpu",
    )
    for suite in SUITES:
        score = scores[task_name(suite)]
        assert score.n == N and score.num_fewshot == 0 and score.apply_chat_template is False
        assert score.metric == "exact_match,toy-answer"
        assert score.accuracy == builtin[suite].accuracy, suite
    assert 0.0 < scores["toy_downstream"].accuracy < 1.0, "not a trivial match: the base half-solves it"
    # A team's file as the task's data: here the first 10 rows of add's test split, 4 of them made wrong.
    rows = [json.loads(line) for line in (tasks_dir / "toy_add.jsonl").read_text().splitlines()[:10]]
    for row in rows[:4]:
        row["gold"] = str(int(row["gold"]) + 1)
    team_file = tmp_path / "team.jsonl"
    team_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    mine = run_tasks(
        str(resolve_model("toy")),
        [TaskRequest("toy_add", team_file)],
        tasks_dir=tasks_dir,
        work=tmp_path / "w",
    )["toy_add"]
    assert mine.n == 10 and mine.accuracy == pytest.approx(builtin["add"].accuracy - 0.4)


def test_a_task_that_names_a_hub_dataset_fails_offline(tmp_path: Path) -> None:
    (tmp_path / "hub.yaml").write_text(
        yaml.safe_dump(
            {
                "task": "hub_task",
                "dataset_path": "no-such-org/no-such-dataset",
                "test_split": "test",
                "output_type": "generate_until",
                "doc_to_text": "{{q}}",
                "doc_to_target": "{{a}}",
            }
        )
    )
    with pytest.raises(Exception, match="OfflineModeIsEnabled"):
        run_tasks(
            str(resolve_model("toy")), [TaskRequest("hub_task")], tasks_dir=tmp_path, work=tmp_path / "w"
        )
