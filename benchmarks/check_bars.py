"""Issues 16 and 17's performance bars, checked against speed records: which are met, by what margin, which unmeasured.

    python benchmarks/check_bars.py RUN/results.jsonl [MORE.jsonl | AB/ab.json ...] [--out bars.md]

Reads the records of `bench_speed.py` / `vlmq run --tasks speed,speed-long` (the `speed` task's batch-1 decode and
TTFT, `speed/bs16`'s decode, `speed-long/ctx8192_bs16`'s decode) and prints one row per bar and recipe: the
measured figure (a ratio where the bar is one), the limit, and met / NOT MET / not measured; where the records give
the repeats' range (``ci_low`` / ``ci_high``: min and max of the repeats) and the limit lies inside it, the verdict
says so ("a tie": another draw of the same repeats could flip it). The bars hold for one run ("all recipes in one
run"): give the files of one run; where several files hold the same figure, the last one's wins, and a ratio divides
by the reference of its own figure's file where that file has one (a run's BF16, not a later run's). Given several
files, each row also says which file its figure (and a ratio's reference) came from, and flags a ratio taken across
two files ("across files"): figures of two runs, which the bars do not promise to compare. Records of a run
that saw ``VLMQ_*`` settings (a kernel knob such as ``VLMQ_PDL_TRIGGER``) carry them, and the table's first line
names them. A recipe A/B's ``ab.json`` (``bench_decode_ab.py --env recipe``: an engine a recipe in one process,
timed in interleaved rounds) counts as a file of its own run (``ab_records``): its recipes' decode figures, whose
ratios to each other carry no table drift. This is a report, not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import NamedTuple

EIGHT_BIT = ("int8_wo", "fp8", "smoothquant")
FOUR_BIT = ("int4_wo", "int4_awq")
W8A8 = ("fp8", "smoothquant")
WEIGHT_ONLY = ("int8_wo", "int4_wo", "int4_awq")
B1, B16, LONG = ("speed", "decode_ms_per_token"), ("speed/bs16", "decode_ms_per_token"), "speed-long/ctx8192_bs16"
TTFT, VISION = ("speed", "ttft_ms"), ("speed", "vision_ms")
M2B, M7B = "qwen2-vl-2b", "qwen2-vl-7b"
BARS_GPU = "H200"  # the issues measured their bars on the lent NVIDIA H200


class Bar(NamedTuple):
    """One bar for one recipe: ``figure`` (model, task, metric) of ``recipe``, divided by the same figure of
    ``relative_to`` where given, must be at most ``limit`` (or, with ``strict``, below it)."""

    issue: int
    what: str
    model: str
    recipe: str
    figure: tuple[str, str]
    limit: float
    relative_to: str | None = None
    strict: bool = False


def bars() -> list[Bar]:
    """The bars of issues 16 and 17 as written there, one per recipe they name."""
    out = [Bar(16, "7b batch-1 decode ms/token", M7B, r, B1, 2.2) for r in EIGHT_BIT]
    out += [Bar(16, "7b batch-1 decode ms/token", M7B, r, B1, 1.6) for r in FOUR_BIT]
    out += [Bar(16, "2b batch-1 decode, x BF16", M2B, r, B1, 0.75, "bf16") for r in EIGHT_BIT]
    out += [Bar(16, "2b batch-1 decode, x BF16", M2B, r, B1, 0.6, "bf16") for r in FOUR_BIT]
    for model in (M2B, M7B):
        name = model.removeprefix("qwen2-vl-")
        out += [
            Bar(16, f"{name} batch-16 decode not slower than BF16 (x BF16)", model, r, B16, 1.0, "bf16")
            for r in EIGHT_BIT + FOUR_BIT
        ]
        out += [
            Bar(
                16, f"{name} batch-16 decode: 4-bit faster than {eight} (x {eight})", model, four, B16, 1.0, eight, True
            )
            for four in FOUR_BIT
            for eight in EIGHT_BIT
        ]
        out += [Bar(16, f"{name} TTFT, x BF16", model, r, TTFT, 1.2, "bf16") for r in WEIGHT_ONLY]
    out += [Bar(16, "7b TTFT, x BF16", M7B, r, TTFT, 1.0, "bf16") for r in W8A8]
    out += [Bar(16, "2b TTFT, x BF16", M2B, r, TTFT, 1.1, "bf16") for r in W8A8]
    out += [Bar(17, "2b batch-1 decode ms/token", M2B, "bf16", B1, 1.25)]
    out += [Bar(17, "2b batch-1 decode ms/token", M2B, r, B1, 0.9) for r in EIGHT_BIT]
    out += [Bar(17, "2b batch-1 decode ms/token", M2B, r, B1, 0.8) for r in FOUR_BIT]
    out += [Bar(17, "2b batch-16 decode ms/token", M2B, "bf16", B16, 1.6)]
    out += [Bar(17, "2b TTFT ms", M2B, "bf16", TTFT, 7.0), Bar(17, "2b vision ms", M2B, "bf16", VISION, 4.0)]
    return out


def long_context_bars(rows: list[dict]) -> list[Bar]:
    """Issue 17: every FP8 KV cache measured at 8k x 16 (``bf16+kv_fp8*``) faster than the BF16 one."""
    fp8 = sorted({r["recipe"] for r in rows if r["task"] == LONG and r["recipe"].startswith("bf16+kv_fp8")})
    fp8 = fp8 or ["bf16+kv_fp8"]
    what = "2b 8k x 16 decode: FP8 KV faster than BF16 KV (x BF16 KV)"
    return [Bar(17, what, M2B, r, (LONG, "decode_ms_per_token"), 1.0, "bf16", True) for r in fp8]


def ab_records(report: dict) -> list[dict]:
    """Speed records of a recipe A/B's report (``bench_decode_ab.py --env recipe``): each recipe's decode ms/token
    at batch 1 (as the ``speed`` task's) and 16 (``speed/bs16``'s), the median over the rounds with their min-max as
    the range; none from rounds a CPU ran (no speed figure)."""
    from bench_decode_ab import ACROSS_RECIPES

    tasks = {1: B1[0], 16: B16[0]}
    made = report.get("provenance", {})
    out = []
    for row in report.get("results", []):
        if row.get("recipe") != ACROSS_RECIPES or row.get("batch") not in tasks:
            continue
        for recipe, summary in row["summary"].items():
            if "ms_per_token" in summary:
                out.append(
                    {
                        "model": report["model"], "recipe": recipe, "task": tasks[row["batch"]], "metric": B1[1],
                        "value": summary["ms_per_token"], "ci_low": summary["min"], "ci_high": summary["max"],
                        "device": made.get("device"), "vlmq_env": made.get("vlmq_env"),
                    }
                )  # fmt: skip
    return out


def read_records(path: pathlib.Path) -> list[dict]:
    """A run's records: a results.jsonl, or a recipe A/B's ab.json (``ab_records``); a one-line error for an A/B of a
    setting (its variants are values of an environment variable, not recipes)."""
    if path.suffix != ".json":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    from bench_decode_ab import RECIPE_VARIANTS

    report = json.loads(path.read_text())
    if report.get("env") != RECIPE_VARIANTS:
        raise ValueError(
            f"{path} is an A/B of {report.get('env')} values, not of recipes: give a results.jsonl or a recipe A/B's "
            "ab.json (bench_decode_ab.py --env recipe)"
        )
    return ab_records(report)


def check(rows: list[dict]) -> list[dict]:
    """Each bar with its measured figure (None where a record is missing), whether it is met, and the figure's range
    over the repeats (``spread``: (low, high), a ratio's from the extremes of both figures; None where a record has
    no range)."""
    record = {(r["model"], r["recipe"], r["task"], r["metric"]): r for r in rows}
    in_file = {(r["model"], r["recipe"], r["task"], r["metric"], r.get("file")): r for r in rows}
    out = []
    for bar in bars() + long_context_bars(rows):
        mine = record.get((bar.model, bar.recipe, *bar.figure), {})
        got, spread = mine.get("value"), figure_range(mine)
        source = (mine.get("file"), None)
        if bar.relative_to is not None and got is not None:
            ref = in_file.get((bar.model, bar.relative_to, *bar.figure, mine.get("file"))) or record.get(
                (bar.model, bar.relative_to, *bar.figure), {}
            )
            got = got / ref["value"] if ref.get("value") else None
            ref_spread = figure_range(ref)
            spread = (spread[0] / ref_spread[1], spread[1] / ref_spread[0]) if spread and ref_spread and got else None
            source = (mine.get("file"), ref.get("file"))
        met = None if got is None else (got < bar.limit if bar.strict else got <= bar.limit)
        out.append({**bar._asdict(), "measured": got, "met": met, "spread": spread, "source": source})
    return out


def source_text(result: dict) -> str:
    """Which file (1, 2, ... as given) the figure came from, and a ratio's reference: "2", "2 / 2", "3 / 2 (across
    files)"; "-" where unmeasured."""
    mine, ref = result["source"]
    if result["measured"] is None or mine is None:
        return "-"
    if ref is None:
        return str(mine)
    return f"{mine} / {ref}" + (" (across files)" if ref != mine else "")


def figure_range(record: dict) -> tuple[float, float] | None:
    """(min, max) of a record's repeats, where it gives them (``ci_low`` / ``ci_high``)."""
    low, high = record.get("ci_low"), record.get("ci_high")
    return (low, high) if low is not None and high is not None and low > 0 else None


def is_tie(result: dict) -> bool:
    """Whether the bar's limit lies within the figure's range over the repeats (the verdict could flip)."""
    spread = result["spread"]
    return result["met"] is not None and spread is not None and spread[0] <= result["limit"] <= spread[1]


def bars_markdown(results: list[dict], files: list[str] | None = None) -> str:
    """The verdicts as a table; given more than one of the ``files`` the records came from, a column says which
    file each figure is from (``source_text``), under a list of the files."""
    counts = {state: sum(r["met"] is state for r in results) for state in (True, False, None)}
    ties = sum(is_tie(r) for r in results)
    sources = files is not None and len(files) > 1
    across = sum(source_text(r).endswith("(across files)") for r in results)
    lines = [
        f"Issues 16 / 17 bars: {counts[True]} met, {counts[False]} not met, {counts[None]} not measured"
        + (f" ({ties} of the judged within their repeats' range of the limit: ties)." if ties else "."),
        "",
    ]
    if sources:
        lines += [f"Files: {'; '.join(f'{i} = {f}' for i, f in enumerate(files, 1))}."]
        lines += [f"{across} ratios taken across files (figures of two runs).", ""] if across else [""]
    lines += [
        "| issue | bar | recipe | measured | limit | |" + (" from |" if sources else ""),
        "|---|---|---|---|---|---|" + ("---|" if sources else ""),
    ]
    for r in results:
        state = {True: "met", False: "**NOT MET**", None: "not measured"}[r["met"]]
        if is_tie(r):
            state += f" (a tie: {r['spread'][0]:.3f}–{r['spread'][1]:.3f} over the repeats)"
        got = "-" if r["measured"] is None else f"{r['measured']:.3f}"
        limit = f"{'<' if r['strict'] else '≤'} {r['limit']:g}"
        row = f"| #{r['issue']} | {r['what']} | {r['recipe']} | {got} | {limit} | {state} |"
        lines.append(row + (f" {source_text(r)} |" if sources else ""))
    return "\n".join(lines)


def report(rows: list[dict], files: list[str] | None = None) -> str:
    """``bars_markdown`` of ``rows``, under a line naming the ``VLMQ_*`` settings the runs saw (provenance's
    vlmq_env: a kernel knob, the CUTLASS library's path) and one naming any GPU other than the bars' (the device tool
    may lend an H100 for an H200 call: its figures are no verdict on bars set on the H200)."""
    text = bars_markdown(check(rows), files)
    knobs = sorted({json.dumps(r["vlmq_env"], sort_keys=True) for r in rows if r.get("vlmq_env")})
    if knobs:
        text = f"Measured with VLMQ_* settings: {'; '.join(knobs)}.\n\n" + text
    others = sorted({r["device"] for r in rows if r.get("device") and BARS_GPU not in r["device"]})
    if others:
        text = (
            f"**Measured on {', '.join(others)}, not the NVIDIA {BARS_GPU} the bars are set on: these verdicts do not "
            "judge them.**\n\n" + text
        )
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", help="results.jsonl files of one run (or recipe A/Bs' ab.json)")
    p.add_argument("--out", help="also write the table to this file")
    args = p.parse_args(argv)
    rows = []
    for number, path in enumerate(args.results, 1):
        if not pathlib.Path(path).is_file():
            p.error(f"no such results file: {path} (give a run's results.jsonl)")
        try:
            rows += [{**record, "file": number} for record in read_records(pathlib.Path(path))]
        except ValueError as err:
            p.error(str(err))
    text = report(rows, args.results)
    print(text)
    if args.out:
        pathlib.Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
