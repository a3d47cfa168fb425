"""The forgetting experiment on a team's files (``rewriter experiment --train --test --verifier``): downstream
accuracy is the verifier's verdict on the test file's rows, the arms train on the training file, and a rerun resumes
the finished arms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from rewriter.engines.hf import HFEngine
from rewriter.evaluation import evaluate
from rewriter.records import Row
from rewriter.suites import get_suite
from training.experiment import evaluate_rows, run
from training.experiment_config import ExperimentConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def gsm_rows(n: int, start: int = 0) -> list[dict[str, str]]:
    """GSM8K-style rows: no gold field, the target ends in ``#### N``."""
    return [
        {"question": f"the shop has {a} mugs and gets {a + 3} more. how many mugs now?",
         "answer": f"The shop starts with {a} mugs.\n{a} + {a + 3} = {2 * a + 3}\n#### {2 * a + 3}"}
        for a in range(10 + start, 10 + start + n)
    ]  # fmt: skip


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_file_accuracy_equals_the_suite_evaluators(base: HFEngine) -> None:
    """The same problems as a file (QA rows with gold) and as the built-in suite score the same."""
    examples = get_suite("downstream").examples("test", 24, 0)
    rows = [Row(str(i), ex.question, ex.expert, ex.gold) for i, ex in enumerate(examples)]
    by_file = evaluate_rows(base, rows, "toy-number", name="file")
    by_suite = evaluate(base, ["downstream"], n=24)["downstream"]
    assert by_file.n == by_suite.n == 24
    assert by_file.accuracy == by_suite.accuracy
    assert by_file.accuracy > 0  # the toy half-solves the downstream task
    wrong = [Row(r.id, r.question, r.answer, str(int(r.gold or 0) + 1)) for r in rows]
    assert evaluate_rows(base, wrong, "toy-number", name="file").accuracy < by_file.accuracy


def test_an_experiment_on_files_writes_the_table_and_resumes(tiny_model: Path, tmp_path: Path) -> None:
    train = write(tmp_path / "train.jsonl", gsm_rows(8))
    test = write(tmp_path / "test.jsonl", gsm_rows(4, start=50))
    cfg = ExperimentConfig(
        train_file=str(train), test_file=str(test), verifier="numeric", model=str(tiny_model), seeds=[0],
        arms=["base", "sft-expert", "guided_resolve+sft"], sft_steps=2, batch_size=4, eval_every=None,
        eval_n=4, k=2,
    )  # fmt: skip
    out = tmp_path / "out"
    summary = run(cfg, out, "test")
    assert cfg.task == f"{tmp_path.name}/test"  # the test file's folder and stem
    assert summary["task"] == cfg.task and list(summary["arms"]) == [
        "base",
        "sft-expert",
        "guided_resolve+sft",
    ]
    table = json.loads((out / "table.json").read_text())
    runs = {r["arm"]: r for r in table["runs"]}
    assert set(runs["base"]["accuracy"]) == {
        cfg.task,
        "add",
        "sub",
        "reverse",
        "count",
        "compare",
        "wordproblem",
    }
    assert runs["sft-expert"]["targets"]["mean"] > 0  # the expert targets' NLL under the base
    assert runs["guided_resolve+sft"]["rewrite"]["acceptance_rate"] is not None
    assert f"task `{cfg.task}`" in (out / "table.md").read_text()
    assert (out / "accuracy_vs_forgetting.png").exists()

    finished = out / "work" / "seed-0" / "arms" / "sft-expert.json"
    stamp = finished.stat().st_mtime_ns
    again = run(cfg, out, "test")  # every arm was saved: nothing trains again
    assert finished.stat().st_mtime_ns == stamp and again["arms"] == summary["arms"]


def test_the_command_refuses_a_bad_file_or_a_lone_test(tmp_path: Path) -> None:
    good = write(tmp_path / "good.jsonl", gsm_rows(2))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": 3}\n')
    runner = CliRunner()
    result = runner.invoke(
        app, ["experiment", "-o", str(tmp_path / "o"), "--train", str(bad), "--test", str(good)]
    )
    assert result.exit_code != 0 and "line 2" in result.output and "--train" in result.output
    result = runner.invoke(app, ["experiment", "-o", str(tmp_path / "o"), "--test", str(good)])
    assert result.exit_code != 0 and "--train" in result.output
    result = runner.invoke(
        app,
        [
            "experiment",
            "-o",
            str(tmp_path / "o"),
            "--train",
            str(good),
            "--test",
            str(good),
            "--verifier",
            "x",
        ],
    )
    assert result.exit_code != 0 and "x" in result.output
    assert not (tmp_path / "o").exists()
