"""Small pieces shared by the scorers: the scoring-mode switch and the 'metric undefined' error."""

from vlmq.errors import VlmqError

# "official": the benchmark authors' own scorer (GT-Vision-Lab vqaEval.py, POPE evaluate.py,
# MME calculation.py). "lmms_eval": lmms-eval >= 0.4.1, for parity with numbers it reports.
SCORING_MODES = ("official", "lmms_eval")


def check_scoring_mode(mode: str) -> str:
    """Return ``mode`` if it is a known scoring mode, else raise a VlmqError naming the choices."""
    if mode not in SCORING_MODES:
        raise VlmqError(f"unknown scoring mode {mode!r}; choose from: {', '.join(SCORING_MODES)}")
    return mode


class UndefinedMetric(VlmqError, ZeroDivisionError):
    """A metric whose official definition divides by zero on this input (e.g. POPE precision when
    nothing is predicted "yes"). The official code raises ZeroDivisionError there, so we raise too
    (and stay catchable as ZeroDivisionError) instead of inventing a value."""
