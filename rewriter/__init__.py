"""Rewriter: rewrite fine-tuning targets into the backbone's own distribution behind a correctness gate.

The domain library shared by the API (`app/`), the workers (`workers/`) and training (`training/`).
It imports no web framework and no queue; heavy ML libraries load lazily inside `rewriter.engines`.
"""

__version__ = "0.1.0"
