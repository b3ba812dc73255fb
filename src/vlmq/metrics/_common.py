"""Small pieces shared by the scorers: the scoring-mode switch and the 'metric undefined' error."""

from vlmq.errors import VlmqError
from vlmq.spec import SCORING_MODES  # "official" | "lmms_eval": one list, defined with the run spec


def check_scoring_mode(mode: str) -> str:
    """Return ``mode`` if it is a known scoring mode, else raise a VlmqError naming the choices."""
    if mode not in SCORING_MODES:
        raise VlmqError(f"unknown scoring mode {mode!r}; choose from: {', '.join(SCORING_MODES)}")
    return mode


class UndefinedMetric(VlmqError, ZeroDivisionError):
    """A metric whose official definition divides by zero on this input (e.g. POPE precision when
    nothing is predicted "yes"). The official code raises ZeroDivisionError there, so we raise too
    (and stay catchable as ZeroDivisionError) instead of inventing a value."""
