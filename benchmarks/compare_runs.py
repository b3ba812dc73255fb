"""Compare the headline accuracy of two runs' results.jsonl, recipe by recipe (e.g. GPU vs CPU, eager vs
compiled): prints a table and exits 1 if a percentage headline differs by more than ``--tol`` points
(MME's headline is in MME points, where one question moves it by several: it is shown, not judged).

    python benchmarks/compare_runs.py RUN_A/results.jsonl RUN_B/results.jsonl --tol 1
"""

from __future__ import annotations

import argparse
import json
import sys


def headlines(path: str) -> dict[tuple[str, str], tuple[float, str]]:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return {
        (r["recipe"], r["task"]): (r["value"] * r.get("display_scale", 1.0), r.get("unit", ""))
        for r in rows
        if r.get("headline") and r.get("value") is not None
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tol", type=float, default=1.0, help="largest allowed difference, in display units (points)")
    args = p.parse_args(argv)
    a, b = headlines(args.a), headlines(args.b)
    worst = 0.0
    print("| recipe | task | A | B | B - A |\n|---|---|---|---|---|")
    for key in sorted(set(a) & set(b)):
        (va, unit), (vb, _) = a[key], b[key]
        if unit == "%":
            worst = max(worst, abs(vb - va))
        print(f"| {key[0]} | {key[1]} | {va:.1f} {unit} | {vb:.1f} {unit} | {vb - va:+.1f} |")
    missing = sorted(set(a) ^ set(b))
    if missing:
        print(f"only in one run: {missing}")
    print(f"largest difference: {worst:.2f} (tolerance {args.tol})")
    return 0 if worst <= args.tol and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
