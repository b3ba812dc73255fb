"""What the user sees on the terminal: progress bars, notes, quiet libraries, one-line failure reasons."""

from __future__ import annotations

import logging
import os
import sys
import warnings

import torch

from vlmq.errors import VlmqError


class Progress:
    """tqdm bars and notes on stderr that vanish with --quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def bar(self, total: int, desc: str):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=self.quiet, leave=False, dynamic_ncols=True, file=sys.stderr)

    def note(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)


def quiet_libraries() -> None:
    """Silence library chatter that says nothing to a vlmq user (the --debug flag keeps it)."""
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    logging.getLogger("torchao").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="torchao")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def describe_failure(err: BaseException) -> str:
    """One line for a recorded failure: the VlmqError's own text, or the exception's type and first line."""
    text = str(err).splitlines()[0] if str(err) else ""
    if isinstance(err, torch.OutOfMemoryError):
        return f"CUDA out of memory ({text[:160]}); try a smaller --batch-size or a smaller model"
    if isinstance(err, VlmqError):
        return text
    return f"{type(err).__name__}: {text[:300]}"
