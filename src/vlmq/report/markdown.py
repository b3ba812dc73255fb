"""Markdown cells and tables of the report: numbers with their intervals, labelled recipe names."""

from __future__ import annotations


def fmt(value, scale: float = 1.0, digits: int = 1) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}"


def ci_text(rec: dict, scale: float, digits: int = 1) -> str:
    if rec.get("ci_low") is None or rec.get("ci_high") is None:
        return fmt(rec.get("value"), scale, digits)
    low, high = fmt(rec["ci_low"], scale, digits), fmt(rec["ci_high"], scale, digits)
    return f"{fmt(rec['value'], scale, digits)} [{low}, {high}]"


def delta_text(rec: dict, scale: float) -> str:
    if rec.get("delta") is None:
        return ""
    mark = "*" if rec.get("p_value") is not None and rec["p_value"] < 0.05 else ""
    return f" ({rec['delta'] * scale:+.1f}{mark})"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def label(recipe: str, kernel: str) -> str:
    return f"{recipe} (emulated)" if kernel == "emulated" else recipe
