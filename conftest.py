"""Collection rules for the whole repository: pytest imports every module under its testpaths (pyproject) to run
their doctests, so a module that cannot be imported on this machine is left out here, with the reason."""

from __future__ import annotations

import importlib.util

collect_ignore: list[str] = []

if importlib.util.find_spec("vllm") is None:
    # The vLLM engine needs the optional `gpu` extra (pip install '.[gpu]'); on a CPU machine it is not installed.
    collect_ignore.append("rewriter/engines/vllm.py")
