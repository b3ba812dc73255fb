"""The int4 tensor-core GEMV benchmark's tile writing (``benchmarks/bench_w4_mma.py --write-tiles``): an entry only
where the best configuration beat the Triton tile at those rows, one per (N, K, row bucket), wrong outputs never
written, and the engine reads the entries back (``gemv.mma_tiles_of``)."""

import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_w4_mma  # noqa: E402
from vlmq.engine.kernels.cutlass_gemm import W4GemvConfig  # noqa: E402
from vlmq.engine.kernels.gemv import mma_tiles_of  # noqa: E402


def rec(shape, n, k, m, us, config=None, note=None):
    row = dict(preset="2b", shape=shape, n=n, k=k, m=m, us=us, us_min=us, us_max=us)
    if config is None:
        return row | dict(variant="triton")
    return row | dict(variant="mma", config=config, note=note) if note else row | dict(variant="mma", config=config)


def test_entries_only_where_a_configuration_beat_the_triton_tile(tmp_path):
    records = [
        rec("o", 1536, 1536, 16, 5.5),
        rec("o", 1536, 1536, 16, 4.4, [1, 8, 2, 0, 1]),
        rec("o", 1536, 1536, 16, 3.7, [1, 8, 4, 1, 2]),  # the fastest: written, with its split
        rec("o", 1536, 1536, 1, 2.6),
        rec("o", 1536, 1536, 1, 3.1, [1, 8, 2, 0, 1]),  # slower than the Triton tile: no entry
        rec("down", 1536, 8960, 1, 6.1),
        rec("down", 1536, 8960, 1, None, [1, 4, 2, 1, 1], note="wrong output"),  # not timed: never written
    ]
    entries = bench_w4_mma.best_tiles(records)
    assert [(e["n"], e["k"], e["m"]) for e in entries] == [(1536, 1536, 16)]
    assert entries[0]["split"] == 2 and entries[0]["us"] == 3.7 and entries[0]["triton_us"] == 5.5
    path = tmp_path / "tiles.json"
    path.write_text(json.dumps({"w4_mma": entries}))
    assert mma_tiles_of(path) == {(1536, 1536, 16): (W4GemvConfig(1, 8, 4, True), 2)}
    table = bench_w4_mma.table(records)
    assert "wrong" in table.lower() and "| 2b | o | 16 | 5.50" in table


def test_write_tiles_refuses_the_shipped_table_in_one_line(tmp_path, capsys, monkeypatch):
    """Candidates go to a file of their own: the shipped table's entries come from adopting A/Bs only (and no GPU
    time is spent before the refusal)."""
    from vlmq.engine.kernels.gemv import TILES_FILE

    before = TILES_FILE.read_bytes()
    monkeypatch.setattr(bench_w4_mma, "run", lambda args: pytest.fail("timed before refusing"))
    for extra in ([], ["--tiles-out", str(TILES_FILE)]):
        assert bench_w4_mma.main(["--out", str(tmp_path), "--write-tiles", *extra]) == 2
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and "--tiles-out FILE other than the shipped table" in out[0]
    assert TILES_FILE.read_bytes() == before


def test_adopted_tiles_keep_only_the_entries_an_ab_adopted():
    records = [
        rec("o", 1536, 1536, 16, 5.5),
        rec("o", 1536, 1536, 16, 3.7, [1, 8, 4, 1, 1]),
        rec("down", 1536, 8960, 16, 9.6),
        rec("down", 1536, 8960, 16, 9.5, [1, 4, 2, 1, 4]),  # faster alone, not adopted
    ]
    assert len(bench_w4_mma.best_tiles(records)) == 2
    kept = bench_w4_mma.adopted_tiles(records, [{"shape": "2b o", "m": 16, "ab": "x/ab.md"}])
    assert [(e["shape"], e["m"]) for e in kept] == [("2b o", 16)]


def test_a_candidate_table_holds_exactly_the_entries_asked_for(tmp_path, capsys, monkeypatch):
    """``--candidate-table``: the shipped table with the named entries of its recorded run, made without timing
    anything; a bad ``--adopt`` is refused in one line."""
    from vlmq.engine.kernels.gemv import TILES_FILE

    monkeypatch.setattr(bench_w4_mma, "run", lambda args: pytest.fail("timed a candidate table"))
    shipped = json.loads(TILES_FILE.read_text())
    path = tmp_path / "t.json"
    assert bench_w4_mma.main(["--candidate-table", str(path), "--adopt", "2b o:16", "7b o:16"]) == 0
    both = json.loads(path.read_text())
    assert [(e["shape"], e["m"]) for e in both["w4_mma"]] == [("2b o", 16), ("7b o", 16)]
    assert both["w4_mma"][0] == shipped["w4_mma"][0] and both["sum_m1"] == shipped["sum_m1"]
    assert bench_w4_mma.main(["--candidate-table", str(path)]) == 0
    assert json.loads(path.read_text())["w4_mma"] == []
    assert bench_w4_mma.main(["--candidate-table", str(path), "--adopt", "7b o"]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "--adopt takes PROJECTION:ROWS" in out[0]
