"""Failed samples, summarised: per recipe and task, how many failed and why (for the report and the CLI).

A failed sample is a stored row with an ``error`` (an image that could not be decoded, ...; see
`vlmq.tasks.base`). Pure functions over stored rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

# A run where more than this share of one recipe's samples of one task failed says so at the top.
WARN_SHARE = 0.05
FIRST_IDS = 5
REASON_CHARS = 120


@dataclass(frozen=True)
class FailureSummary:
    recipe: str
    task: str
    n: int  # samples stored
    n_failed: int
    reasons: list[tuple[str, list[str]]] = field(default_factory=list)  # (reason, ids), most frequent first

    @property
    def share(self) -> float:
        return self.n_failed / self.n if self.n else 0.0

    @property
    def alarming(self) -> bool:
        return self.share > WARN_SHARE

    def describe(self) -> str:
        """``3 failed of 16: unreadable image: ... — ids 4, 7, 9`` (one clause per distinct reason)."""
        return f"{self.n_failed} failed of {self.n}: {self.reasons_text()}"

    def reasons_text(self) -> str:
        parts = []
        for reason, ids in self.reasons:
            shown = ", ".join(ids[:FIRST_IDS]) + (f" and {len(ids) - FIRST_IDS} more" if len(ids) > FIRST_IDS else "")
            parts.append(f"{reason} — {'id' if len(ids) == 1 else 'ids'} {shown}")
        return "; ".join(parts)


def failure_summaries(rows: list[dict]) -> list[FailureSummary]:
    """One summary per (recipe, task) with at least one failed row, in first-seen order.

    ``rows`` are stored sample rows (``recipe``, ``task``, ``sample_id``, ``error``).
    """
    totals: dict[tuple[str, str], int] = defaultdict(int)
    failed: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        key = (row["recipe"], row["task"])
        totals[key] += 1
        if row.get("error"):
            failed[key][_reason(row["error"])].append(str(row["sample_id"]))
    out = []
    for key, reasons in failed.items():
        ordered = sorted(reasons.items(), key=lambda item: -len(item[1]))
        out.append(FailureSummary(key[0], key[1], totals[key], sum(len(ids) for ids in reasons.values()), ordered))
    return out


def _reason(error: str) -> str:
    first = str(error).splitlines()[0] if str(error).strip() else "unknown error"
    return first if len(first) <= REASON_CHARS else first[: REASON_CHARS - 1] + "…"
