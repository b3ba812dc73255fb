"""The prefill-GEMM benchmark's tile writing (``benchmarks/bench_prefill_gemm.py --write-tiles``): which W8A8
prefill entries of the tile table get a ``mixed`` tile, and that the engine reads them back."""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_prefill_gemm  # noqa: E402


def record(fmt, n, k, path, us, tile=None):
    return {"preset": "7b", "rows": 300, "proj": "p", "n": n, "k": k, "format": fmt, "path": path, "us": [us, us, us],
            "tile": tile}  # fmt: skip


def test_a_mixed_tile_is_written_only_where_it_beats_every_other_path(tmp_path):
    generic = {"block_n": 64, "block_k": 128, "stages": 4, "swap": False, "warps": 4, "block_m": 64, "split": 1}
    entries = [
        {"mode": "int8-a8", "n": 256, "k": 512, "m": 300, "shape": "won", "tile": generic},
        {"mode": "int8-a8", "n": 128, "k": 512, "m": 300, "shape": "lost", "tile": generic, "mixed": {"tile": [1]}},
        {"mode": "fp8-a8", "n": 256, "k": 512, "m": 300, "shape": "fp8 lost", "tile": None},
        {"mode": "int8-a16", "n": 256, "k": 512, "m": 300, "shape": "not W8A8", "tile": None},
    ]
    table = tmp_path / "tiles.json"
    table.write_text(json.dumps({"sources": ["old"], "prefill": entries}))
    fast, slow = [64, 128, 128, 4, 4, False, True], [128, 128, 128, 8, 3, False, False]
    records = [
        record("w8a8", 256, 512, "int_mm", 30.0),
        record("w8a8", 256, 512, "generic tile", 15.0),
        record("w8a8", 256, 512, f"mixed {tuple(fast)}", 12.0, fast),
        record("w8a8", 256, 512, f"mixed {tuple(slow)}", 14.0, slow),
        record("w8a8", 128, 512, "generic tile", 10.0),
        record("w8a8", 128, 512, f"mixed {tuple(fast)}", 10.0, fast),  # a tie keeps the incumbent
        record("fp8a8", 256, 512, "scaled_mm", 9.0),
        record("fp8a8", 256, 512, f"mixed {tuple(fast)}", 11.0, fast),
        record("int8", 256, 512, f"mixed {tuple(fast)}", 1.0, fast),  # weight-only: never written
    ]
    changes = bench_prefill_gemm.write_tiles(records, str(table), "new.jsonl")
    written = json.loads(table.read_text())
    won, lost, fp8, w8a16 = written["prefill"]
    assert won["mixed"] == {"tile": fast, "us": 12.0, "rival": "generic tile", "rival_us": 15.0}
    assert "mixed" not in lost and "mixed" not in fp8 and "mixed" not in w8a16
    assert written["sources"] == ["old"] and written["prefill_gemm_sources"] == ["new.jsonl"] and len(changes) == 3
