"""The int4 tensor-core GEMV benchmark's tile writing (``benchmarks/bench_w4_mma.py --write-tiles``): an entry only
where the best configuration beat the Triton tile at those rows, one per (N, K, row bucket), wrong outputs never
written, and the engine reads the entries back (``gemv.mma_tiles_of``)."""

import json
import pathlib
import sys

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
