"""benchmarks/bench_attention.py's cold-cache option: enough layer caches that the timed graph reads them from HBM."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_attention  # noqa: E402


def test_cold_caches_cover_the_asked_megabytes():
    """qwen2-vl-2b heads at 372 slots: 28 layer caches are ~8 MB (BF16), so they stay in L2; asked for 256 MB the
    graph cycles through enough caches to hold that much (FP8 entries: half the bytes a cache, twice the caches)."""
    layer_bytes = 2 * 1 * 2 * 372 * 128 * 2
    assert bench_attention.cache_layers(0, 1, 2, 372, 128, "bf16") == bench_attention.LAYERS == 28
    bf16 = bench_attention.cache_layers(256, 1, 2, 372, 128, "bf16")
    assert (bf16 - 1) * layer_bytes < 256 * 2**20 <= bf16 * layer_bytes
    assert bench_attention.cache_layers(256, 1, 2, 372, 128, "dynamic") in (2 * bf16 - 1, 2 * bf16)
    assert bench_attention.cache_layers(1, 16, 2, 8256, 128, "bf16") == 28  # never fewer than a model's layers
    args = bench_attention.parse_args(["--out", "x", "--cold-mb", "256"])
    assert args.cold_mb == 256.0 and bench_attention.parse_args(["--out", "x"]).cold_mb == 0.0
