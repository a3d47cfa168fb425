"""Why a job's child process ended, in words, and whether another attempt may help.

A child that exits ``EXPECTED_EXIT`` (2, ``rewriter.runs.context.entry``: a bad spec, a missing file, a verifier that
cannot load) failed for a reason a rerun would meet again: the job fails at once, with that reason as its message.
Anything else — killed by a signal (SIGKILL is what the kernel's OOM killer sends), a segfault in a kernel, an
uncaught exception (a CUDA error, a bug) — may pass on a rerun, so the job is retried up to
``WorkerSettings.max_attempts`` times.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

from rewriter.runs.context import EXPECTED_EXIT

# A tqdm / transformers progress bar: "Loading weights: 100%|█████| 3/3 [00:01<00:00, 2.1it/s]" and the like.
_PROGRESS = re.compile(r"\d+%\|.*\||\|\s*\d+/\d+\s*\[|\d+(\.\d+)?\s*(it/s|s/it)\]")
MAX_LINES = 8
MAX_CHARS = 1500


def meaningful_lines(stderr: str, limit: int = MAX_LINES) -> list[str]:
    """The last ``limit`` lines of ``stderr`` worth reading: a line redrawn with ``\\r`` counts by its last state,
    and progress bars and blank lines are dropped.

    >>> meaningful_lines("Loading weights: 100%|#####| 3/3 [00:01<00:00, 2.1it/s]\\nRuntimeError: CUDA error\\n")
    ['RuntimeError: CUDA error']
    >>> meaningful_lines("step 1\\r 50%|##   | 1/2\\r100%|#####| 2/2\\n\\nTraceback ...\\nValueError: x", limit=2)
    ['Traceback ...', 'ValueError: x']
    """
    kept = []
    for line in stderr.splitlines():
        state = line.rsplit("\r", 1)[-1].rstrip()
        if state.strip() and not _PROGRESS.search(state):
            kept.append(state)
    return kept[-limit:]


@dataclass(frozen=True)
class Failure:
    """How a child ended (``returncode`` as ``subprocess`` reports it: ``-N`` for signal N) and its stderr."""

    returncode: int
    stderr: str

    @property
    def retryable(self) -> bool:
        """Whether another attempt may succeed: anything but the child's own "this cannot run" exit.

        >>> Failure(-9, "").retryable, Failure(1, "").retryable, Failure(EXPECTED_EXIT, "").retryable
        (True, True, False)
        """
        return self.returncode != EXPECTED_EXIT

    @property
    def cause(self) -> str:
        """The way the process ended, in words (an out-of-memory hint for SIGKILL).

        >>> Failure(-9, "").cause
        'the process was killed by SIGKILL (signal 9; most often the out-of-memory killer)'
        >>> Failure(-11, "").cause, Failure(1, "").cause
        ('the process was killed by SIGSEGV (signal 11)', 'the process exited with code 1')
        """
        if self.returncode < 0:
            number = -self.returncode
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            hint = "; most often the out-of-memory killer" if number == signal.SIGKILL else ""
            return f"the process was killed by {name} (signal {number}{hint})"
        return f"the process exited with code {self.returncode}"

    @property
    def details(self) -> str:
        """The last meaningful lines of stderr, at most ``MAX_CHARS`` (the end kept), or ``""``."""
        text = "\n".join(meaningful_lines(self.stderr))
        return text if len(text) <= MAX_CHARS else "…" + text[-MAX_CHARS:]

    def message(self, attempt: int, attempts: int) -> str:
        """The job's error message once it will not be retried.

        An expected failure (exit 2) is its reason alone, the last line the child wrote; anything else names the
        cause, the attempt, and the last stderr lines.

        >>> Failure(2, "Loading: 100%|##| 1/1\\nInvalidRequest: no such verifier 'x'\\n").message(1, 3)
        "InvalidRequest: no such verifier 'x'"
        >>> print(Failure(-9, "Loading weights: 100%|###| 2/2 [00:01<00:00]\\n").message(3, 3))
        Failed on attempt 3 of 3: the process was killed by SIGKILL (signal 9; most often the out-of-memory killer).
        >>> print(Failure(1, "Traceback (most recent call last):\\nRuntimeError: boom").message(1, 1))
        Failed on attempt 1 of 1: the process exited with code 1. Last lines of its stderr:
        Traceback (most recent call last):
        RuntimeError: boom
        """
        if not self.retryable:
            lines = meaningful_lines(self.stderr, limit=1)
            return lines[0].strip() if lines else f"The job cannot run ({self.cause})."
        text = f"Failed on attempt {attempt} of {attempts}: {self.cause}."
        details = self.details
        return f"{text[:-1]}. Last lines of its stderr:\n{details}" if details else text


def retry_delay(attempt: int, backoff_seconds: float, cap: float = 600.0) -> float:
    """Seconds to wait before attempt ``attempt + 1``: ``backoff_seconds`` doubled per attempt, at most ``cap``.

    >>> [retry_delay(n, 10.0) for n in (1, 2, 3)], retry_delay(9, 10.0)
    ([10.0, 20.0, 40.0], 600.0)
    """
    return float(min(cap, backoff_seconds * 2 ** (attempt - 1)))
