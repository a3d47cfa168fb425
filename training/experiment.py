"""The forgetting experiment on the toy world (DESIGN §5): every arm gets the same SFT budget, then downstream
accuracy, retention per base skill, forgetting (abs, rel) and the NLL of its training targets under the base.

Runs: ``rewriter experiment [--task downstream|downstream-newop] [--seeds 0,1,2] [--quick] -o DIR``.
Default: 33 minutes on 2 cores (3 seeds, ``--jobs 3``); ``--quick`` 7 minutes (1 seed, smaller budget).

On a team's data: ``rewriter experiment --train TRAIN.jsonl --test TEST.jsonl --verifier NAME -o DIR``. The training
file's targets (any supported schema) are the expert data every arm starts from; downstream accuracy is greedy
accuracy on the test file's rows (its prompt as SFT renders it, the answer checked against the row's ``gold``, or its
target when it has none, by the verifier); retention and forgetting are over the toy's base skills as on the built-in
tasks. Arms default to ``FILE_ARMS`` (no trained rewriting policy, no task GRPO); every arm is saved when it ends, so
a rerun of the same command resumes.

Arms: base; SFT on expert data (nll); DFT on expert data; self_distill + SFT; guided_resolve + SFT;
guided_resolve + IS; policy without adapter (prompt-only) + SFT; policy with the GRPO adapter + SFT; GRPO on the task.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewriter import pipeline, prompts
from rewriter.backbones import resolve_model
from rewriter.engines.base import Engine
from rewriter.engines.hf import HFEngine
from rewriter.evaluation import MAX_NEW_TOKENS, SuiteResult, compare, evaluate
from rewriter.formats import read_rows
from rewriter.records import Row
from rewriter.specs import StrategySpec
from rewriter.suites import RETENTION_SUITES, get_suite
from rewriter.verifiers import get_verifier
from training import experiment_report
from training.experiment_config import ARMS, ArmResult, ExperimentConfig
from training.grpo import GRPOSpec, train_grpo
from training.hooks import Snapshot, TrainingHooks
from training.sft import SFTSpec, train_sft

Log = Callable[[str], None]


def _accuracy(results: dict[str, SuiteResult]) -> dict[str, float]:
    return {name: r.accuracy for name, r in results.items()}


def _target_stats(report: dict[str, Any]) -> dict[str, Any]:
    after = report["nll_after"]
    return {
        "mean": after["qa"]["mean"],
        "median": after["qa"]["median"],
        "over_1nat": after["tokens_over_1nat"],
    }


def _expert_stats(report: dict[str, Any]) -> dict[str, Any]:
    before = report["nll_before"]
    return {
        "mean": before["qa"]["mean"],
        "median": before["qa"]["median"],
        "over_1nat": before["tokens_over_1nat"],
    }


def evaluate_rows(
    engine: Engine,
    rows: list[Row],
    verifier: str,
    *,
    name: str,
    adapter: str | None = None,
    keep_samples: int = 3,
) -> SuiteResult:
    """Greedy accuracy on a file's rows: each prompted as SFT trains it (the QA prompt of the question; a
    ``prompt_completion`` row's prompt verbatim), its output checked against the row's gold (or target)."""
    inputs = [
        r.question if r.schema == "prompt_completion" else prompts.render(prompts.QA_TEMPLATE, r.question)
        for r in rows
    ]
    outputs = engine.generate(inputs, n=1, temperature=0.0, max_new_tokens=MAX_NEW_TOKENS, adapter=adapter)
    texts = [out[0].text for out in outputs]
    verdicts = get_verifier(verifier).verify_many(texts, [r.gold_or_answer for r in rows])
    samples = [
        {"prompt": p, "output": t, "gold": r.gold_or_answer}
        for p, t, r in list(zip(inputs, texts, rows, strict=True))[:keep_samples]
    ]
    return SuiteResult(name, sum(v.passed for v in verdicts) / len(rows), len(rows), samples)


def _evaluator(cfg: ExperimentConfig) -> Callable[..., dict[str, SuiteResult]]:
    """``evaluate(engine, n=..., adapter=...)`` over the downstream test (a suite or the team's test file) and the
    retention suites."""
    if cfg.test_file is None:
        suites = [cfg.task, *RETENTION_SUITES]
        return lambda engine, n, adapter=None: evaluate(engine, suites, n=n, adapter=adapter)
    test_rows = read_rows(cfg.test_file)[1]

    def on_files(engine: Engine, n: int, adapter: str | None = None) -> dict[str, SuiteResult]:
        # the whole test file for the table, its first n rows for a curve point
        rows = test_rows if n >= cfg.eval_n else test_rows[:n]
        downstream = evaluate_rows(engine, rows, cfg.verifier, name=cfg.task, adapter=adapter)
        return {cfg.task: downstream, **evaluate(engine, RETENTION_SUITES, n=n, adapter=adapter)}

    return on_files


def _write_expert(cfg: ExperimentConfig, seed: int, expert: Path) -> None:
    """The arms' expert data: the task's training split (prose answers), or the team's training file's rows."""
    if cfg.train_file is not None:
        with open(cfg.train_file) as src, expert.open("w") as fh:
            lines = [line for line in src if line.strip()]
            fh.writelines(lines[: cfg.rows])
        return
    with expert.open("w") as fh:
        for i, ex in enumerate(get_suite(cfg.task).examples("train", cfg.rows, seed=seed)):
            fh.write(
                json.dumps(
                    {"id": f"{seed}-{i}", "question": ex.question, "answer": ex.expert, "gold": ex.gold}
                )
                + "\n"
            )


def run_seed(cfg: ExperimentConfig, seed: int, work: Path, log: Log) -> list[ArmResult]:
    evaluate_all = _evaluator(cfg)
    model_dir = resolve_model(cfg.model)
    base_engine = HFEngine(model_dir, device="cpu")
    base_results = evaluate_all(base_engine, n=cfg.eval_n)
    base_acc = _accuracy(base_results)
    work.mkdir(parents=True, exist_ok=True)

    expert = work / "expert.jsonl"
    _write_expert(cfg, seed, expert)

    arms = [a for a in ARMS if a.name in cfg.arm_names()]
    datasets: dict[str, Path] = {"expert": expert}
    identity = pipeline.run(
        expert, work / "identity.jsonl", _spec("identity", seed, cfg), base_engine, model=cfg.model
    )
    reports: dict[str, dict[str, Any]] = {"expert": identity.report}
    rewrites = {
        "self_distill": ("self_distill", None),
        "guided_resolve": ("guided_resolve", None),
        "policy_prompt": ("policy", None),
        "policy_grpo": ("policy", work / "rewriter-adapter"),
    }

    def dataset(name: str) -> Path:
        """The arm's training data, rewritten on first use (so the expert arms report early)."""
        if name in datasets:
            return datasets[name]
        strategy, adapter = rewrites[name]
        if adapter is not None and not (adapter / "adapter_config.json").exists():
            # Warm start from guided_resolve's accepted rewrites of the same rows, then GRPO (docs/results/README.md)
            warm = str(dataset("guided_resolve")) if cfg.rewriter_warm_start else None
            started = time.perf_counter()
            grpo = GRPOSpec(mode="rewriter", steps=cfg.rewriter_grpo_steps, seed=seed, warm_start=warm,
                            warm_start_epochs=cfg.rewriter_warm_start_epochs, verifier=cfg.verifier)  # fmt: skip
            train_grpo(expert, cfg.model, adapter, grpo)
            log(f"  seed {seed}: GRPO rewriting policy trained in {time.perf_counter() - started:.0f}s")
        started = time.perf_counter()
        spec = _spec(strategy, seed, cfg, adapter=str(adapter) if adapter else None)
        result = pipeline.run(expert, work / f"{name}.jsonl", spec, base_engine, model=cfg.model)
        datasets[name], reports[name] = result.output, result.report
        candidates = result.report["candidates"]
        nll = candidates["nll_passing"]["mean"]  # None when no candidate passed (or selection scored none)
        log(
            f"  seed {seed}: {name:15s} acceptance {result.report['acceptance_rate']:.2f}  "
            f"target NLL {result.report['nll_after']['qa']['mean']:.3f} "
            f"candidates passing {candidates['pass_rate'] or 0.0:.2f} "
            f"at NLL {float('nan') if nll is None else nll:.3f} "
            f"(expert {result.report['nll_before']['qa']['mean']:.3f})  {time.perf_counter() - started:.0f}s"
        )
        return result.output

    out: list[ArmResult] = []
    done_dir = work / "arms"
    done_dir.mkdir(exist_ok=True)
    for arm in arms:
        done = done_dir / f"{arm.name}.json"
        if done.exists():  # finished by an earlier (interrupted) run: each arm is saved as soon as it ends
            out.append(ArmResult(**json.loads(done.read_text())))
            continue
        started = time.perf_counter()
        curve: list[dict[str, Any]] = []

        def on_eval(snapshot: Snapshot, curve: list[dict[str, Any]] = curve) -> dict[str, float]:
            engine = HFEngine(model_dir if snapshot.adapter else snapshot.path, device="cpu")
            adapter = snapshot.path if snapshot.adapter else None
            acc = _accuracy(evaluate_all(engine, n=cfg.curve_n, adapter=adapter))
            point = {"step": snapshot.step, "downstream": acc[cfg.task],
                     "retention": statistics.fmean(acc[s] for s in RETENTION_SUITES)}  # fmt: skip
            curve.append(point)
            return {"eval_downstream": point["downstream"], "eval_retention": point["retention"]}

        hooks = TrainingHooks(on_eval=on_eval)
        if arm.name == "base":
            tuned, adapter = base_engine, None
        elif arm.grpo_task:
            target = work / "arm-grpo-task"
            spec = GRPOSpec(
                mode="task",
                steps=cfg.task_grpo_steps,
                seed=seed,
                eval_every=cfg.eval_every,
                verifier=cfg.verifier,
            )
            train_grpo(expert, cfg.model, target, spec, hooks)
            tuned, adapter = base_engine, str(target)
        else:
            assert arm.data is not None
            target = work / f"arm-{arm.name}"
            spec_sft = SFTSpec(loss=arm.loss, lora=False, lr=cfg.sft_lr, steps=cfg.sft_steps,  # type: ignore[arg-type]
                               batch_size=cfg.batch_size, seed=seed, eval_every=cfg.eval_every)  # fmt: skip
            train_sft(dataset(arm.data), cfg.model, target, spec_sft, hooks)
            tuned, adapter = HFEngine(target, device="cpu"), None
        results = base_results if arm.name == "base" else evaluate_all(tuned, n=cfg.eval_n, adapter=adapter)
        cmp = compare(base_results, results, [cfg.task])
        data_report = reports.get(arm.data) if arm.data else None
        targets = None
        if arm.data == "expert":
            targets = _expert_stats(reports["expert"])
        elif data_report is not None:
            targets = _target_stats(data_report)
        rewrite = (
            {
                "acceptance_rate": data_report["acceptance_rate"],
                "fallback_rate": data_report["fallback_rate"],
                "provenance": data_report["provenance"],
                "candidates": data_report.get("candidates"),
            }  # fmt: skip
            if data_report is not None and arm.data != "expert"
            else None
        )
        seconds = time.perf_counter() - started
        finished = ArmResult(
            arm.name, seed, _accuracy(results), cmp.as_dict(), targets, rewrite, curve, seconds
        )
        done.write_text(json.dumps(vars(finished)))
        out.append(finished)
        log(
            f"  seed {seed}: {arm.name:20s} downstream {finished.accuracy[cfg.task]:.3f} "
            f"(base {base_acc[cfg.task]:.3f})  forgetting {cmp.forgetting_abs:5.1f} pts "
            f"({cmp.forgetting_rel:.0%})  {seconds:.0f}s"
        )
        for leftover in work.glob("arm-*"):
            if leftover.is_dir() and (leftover / "model.safetensors").exists():
                shutil.rmtree(leftover)  # 4 MB each; the numbers are what we keep
    return out


def _seed_process(cfg: ExperimentConfig, seed: int, work: Path) -> list[ArmResult]:
    import datasets
    import torch
    import transformers

    torch.set_num_threads(1)
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    return run_seed(cfg, seed, work, lambda line: print(line, flush=True))


def _spec(strategy: str, seed: int, cfg: ExperimentConfig, adapter: str | None = None) -> StrategySpec:
    return StrategySpec(
        strategy=strategy,  # type: ignore[arg-type]
        k=cfg.k,
        seed=seed,
        verifier=cfg.verifier,
        max_new_tokens=96,
        adapter=adapter,
    )


def collect(cfg: ExperimentConfig, out_dir: Path) -> list[ArmResult]:
    """The arms finished so far (saved one file per arm under ``work/seed-N/arms``), in ARMS order."""
    order = {arm.name: i for i, arm in enumerate(ARMS)}
    found = []
    for seed in cfg.seeds:
        for path in (out_dir / "work" / f"seed-{seed}" / "arms").glob("*.json"):
            found.append(ArmResult(**json.loads(path.read_text())))
    return sorted(found, key=lambda r: (order.get(r.arm, 99), r.seed))


def run(
    cfg: ExperimentConfig, out_dir: Path, command: str, log: Log = print, summarize_only: bool = False
) -> dict[str, Any]:
    """Run every seed (resuming finished arms), aggregate, and write table.md, table.json and the plots."""
    import datasets
    import transformers

    datasets.disable_progress_bars()  # hundreds of "Tokenizing train dataset" bars would drown the log
    transformers.utils.logging.disable_progress_bar()
    started = time.perf_counter()
    results: list[ArmResult] = []
    if summarize_only:
        results = collect(cfg, out_dir)
    elif cfg.jobs == 1:
        for seed in cfg.seeds:
            log(f"seed {seed}")
            results += run_seed(cfg, seed, out_dir / "work" / f"seed-{seed}", log)
    else:
        # Two torch threads per process on 2 shared cores ran ~9x slower than one: give each seed one thread.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(cfg.jobs, mp_context=context) as pool:
            futures = [
                pool.submit(_seed_process, cfg, seed, out_dir / "work" / f"seed-{seed}") for seed in cfg.seeds
            ]
            for future in futures:
                results += future.result()
    summary = experiment_report.summarize(results, cfg, command, time.perf_counter() - started)
    experiment_report.write(summary, results, out_dir)
    return summary
