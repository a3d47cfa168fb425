"""The ``math`` verifier: symbolic equivalence with math-verify, in a process pool shared by the process."""

from __future__ import annotations

import atexit
import importlib.util
import math
import multiprocessing
import os
import re
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from types import FrameType

from rewriter.records import GateStatus, Verdict
from rewriter.verifiers.base import Verifier, _check_lengths, _no_answer, _unverifiable, _verdict
from rewriter.verifiers.extraction import extract_answer, gold_answer

# math-verify's own timeouts use signal.alarm, which raises "signal only works in main thread" (and so silently
# loses the timeout) anywhere off the main thread. Its calls run here in pool workers, where the item runs on the
# worker's main thread: its own timeouts are off and each item is bounded by our ITIMER_REAL; a worker stuck in C
# code (which signals cannot interrupt) is caught by the parent's budget and killed. One pool per process, shared
# by all math verifiers; workers are spawned, so a script that uses it needs the usual `if __name__ == "__main__"`.
# It cannot start inside a daemonic process (a Celery prefork child): run the gate in a supervised child.
_POOL_WORKERS = min(4, os.cpu_count() or 1)
_START_ALLOWANCE = 30.0  # seconds: spawning a worker and importing sympy takes ~1-2 s on 2 idle cores
_POOL: ProcessPoolExecutor | None = None
MAX_TIMEOUT = (
    3600.0  # seconds per item; setitimer refuses a value past ~2**31 s, and an hour already means "stuck"
)
_POOL_LOCK = threading.Lock()
# A gold answer with no digit but a bare word of 3+ letters ("no solution", "hello") would parse as a product of
# symbols (h*e*l**2*o): treat it as unparseable rather than as algebra.
_BARE_WORD = re.compile(
    r"(?<![\\A-Za-z])(?!(?:sin|cos|tan|cot|sec|csc|log|ln|exp|sqrt|infty|inf)(?![A-Za-z]))[A-Za-z]{3,}"
)


class _ItemTimeout(BaseException):
    """Raised by SIGALRM in a worker; a BaseException so math-verify's ``except Exception`` cannot swallow it."""


def _raise_timeout(signum: int, frame: FrameType | None) -> None:
    raise _ItemTimeout


def _init_math_worker() -> None:
    import logging

    # It warns that its own timeouts are off: they are meant to be, the item timer below replaces them.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    # Pay the imports (sympy, the LaTeX grammar: ~0.5 s) once per worker, outside any item's time limit.
    _math_compare(r"\boxed{\frac{1}{2}}", "x^2")
    signal.signal(signal.SIGALRM, _raise_timeout)


def _math_compare(prediction: str, gold: str) -> Verdict:
    from math_verify import parse, verify

    gold_text, marked = gold_answer(gold), extract_answer(gold, last_number=False)
    prose = gold_text is not None and _BARE_WORD.search(re.sub(r"\\text\{[^}]*\}", "", gold_text))
    if gold_text is None or (prose and not re.search(r"\d", gold_text)):
        return _unverifiable(gold)
    # An unmarked gold in prose ("... so 77 plus 57 gives 134") goes to math-verify's own extraction.
    gold_parsed = parse(gold if prose and not marked else f"\\boxed{{{gold_text}}}", parsing_timeout=None)
    if not gold_parsed:
        return _unverifiable(gold)
    found = extract_answer(prediction, last_number=False)
    parsed = parse(f"\\boxed{{{found}}}", parsing_timeout=None) if found else []
    if not parsed:  # no marked answer, or one math-verify cannot read: let its own extraction try the text
        found, parsed = None, parse(prediction, parsing_timeout=None)
    if not parsed:
        return _no_answer(gold_text)
    equal = verify(gold_parsed, parsed, timeout_seconds=None)  # gold first: verify() is not symmetric
    return _verdict(bool(equal), found or str(parsed[-1]), gold_text)


def _math_item(prediction: str, gold: str, timeout: float) -> Verdict:
    """One item in a pool worker, bounded by ``timeout`` seconds of wall time."""
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return _math_compare(prediction, gold)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _ItemTimeout:
        return Verdict(GateStatus.FAIL, None, None, "timeout")


def _math_pool() -> ProcessPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # spawn, not fork: the caller may hold threads (torch, a web server) that a fork would copy mid-state.
            context = multiprocessing.get_context("spawn")
            _POOL = ProcessPoolExecutor(_POOL_WORKERS, mp_context=context, initializer=_init_math_worker)
        return _POOL


def shutdown(pool: ProcessPoolExecutor | None = None) -> None:
    """Kill the math pool's workers (any stuck on an item too); the next math call starts a new pool.

    With ``pool``, only if that is still the current pool (another thread may have replaced it already).
    """
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or (pool is not None and pool is not _POOL):
            return
        current, _POOL = _POOL, None
    for process in list((current._processes or {}).values()):  # no public way to kill a stuck worker
        process.kill()
    current.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)


class MathVerifier(Verifier):
    """Symbolic equivalence with math-verify, ``timeout`` seconds per item (a timeout is a FAIL, reason "timeout")."""

    name = "math"

    def __init__(self, timeout: float = 5.0) -> None:
        # NaN compares false with everything: without the explicit range it passed and made every item "timeout".
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= MAX_TIMEOUT
        ):
            raise ValueError(
                f"math verifier: timeout must be a number of seconds in (0, {MAX_TIMEOUT}], got {timeout!r}"
            )
        if importlib.util.find_spec("math_verify") is None:  # else every worker would die and every row FAIL
            raise ValueError(
                "math verifier: the math-verify package is not installed (pip install math-verify)"
            )
        self.timeout = float(timeout)

    def verify(self, prediction: str, gold: str) -> Verdict:
        return self.verify_many([prediction], [gold])[0]

    def verify_many(self, predictions: list[str], golds: list[str]) -> list[Verdict]:
        _check_lengths(predictions, golds)
        verdicts: list[Verdict | None] = [None] * len(predictions)
        # A second try for items lost to a worker that died (OOM, or killed for a neighbour's stuck item).
        for _attempt in range(2):
            todo = [i for i, verdict in enumerate(verdicts) if verdict is None]
            if not todo:
                break
            pool = _math_pool()
            try:
                futures = {i: pool.submit(_math_item, predictions[i], golds[i], self.timeout) for i in todo}
            except RuntimeError:  # BrokenProcessPool or shut down by another thread
                shutdown(pool)
                continue
            budget = _START_ALLOWANCE + (self.timeout + 1.0) * math.ceil(len(todo) / _POOL_WORKERS)
            _, stuck = wait_futures(futures.values(), timeout=budget)
            for i, future in futures.items():
                if future in stuck:
                    verdicts[i] = Verdict(GateStatus.FAIL, None, None, "timeout")
                elif future.exception() is None:
                    verdicts[i] = future.result()
            if stuck or None in (verdicts[i] for i in todo):
                shutdown(pool)
        return [v or Verdict(GateStatus.FAIL, None, None, "verifier crashed") for v in verdicts]
