"""Silence transformers' per-call progress bars ("Loading weights", "Writing model shards").

A tiny model loads in milliseconds; a bar per load only clutters CLI output and test logs.
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def quiet_progress_bars():
    """Disable transformers' tqdm bars inside the block and restore the previous setting after it."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
