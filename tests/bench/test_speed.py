"""The speed benchmark on CPU with tiny settings: record shape, labels, sweeps, OOM handling."""

import pytest
import torch

from vlmq.bench import speed
from vlmq.bench.speed import SpeedOptions, measure_hf_eager_baseline, run_speed, sweep_points
from vlmq.errors import VlmqError

TINY_OPTS = SpeedOptions(batch_sizes=(1, 2), image_sizes=(112, 56), new_tokens=3, warmups=0, repeats=2)
REQUIRED = (
    "ttft_ms",
    "vision_ms",
    "prefill_ms",
    "decode_ms_per_token",
    "tokens_per_s",
    "total_ms",
    "static_vram_gb",
    "dynamic_vram_gb",
)


@pytest.fixture(scope="module")
def baseline(tiny_bf16):
    prompts = speed.workload_prompts(TINY_OPTS, 1, TINY_OPTS.image_sizes[0])
    return measure_hf_eager_baseline(tiny_bf16, prompts, TINY_OPTS.new_tokens, warmups=0, repeats=1)


@pytest.fixture(scope="module")
def records(tiny_bf16, baseline):
    return run_speed(tiny_bf16, "bf16", "real", TINY_OPTS, baseline=baseline)


def test_records_carry_named_metrics_labelled_cpu(records):
    by_task = {}
    for r in records:
        by_task.setdefault(r["task"], {})[r["metric"]] = r
    assert set(by_task) == {"speed", "speed/bs2", "speed/img56"}
    for task, metrics in by_task.items():
        assert set(REQUIRED) <= set(metrics), task
    for r in records:
        assert r["device"] == "cpu" and r["mode"] == "eager" and r["recipe"] == "bf16"
        assert {"value", "ci_low", "ci_high", "n", "kernel", "test", "params"} <= set(r)
    ttft = by_task["speed"]["ttft_ms"]
    assert ttft["n"] == 2 and ttft["ci_low"] <= ttft["value"] <= ttft["ci_high"]
    assert by_task["speed/bs2"]["ttft_ms"]["params"]["batch_size"] == 2
    assert (
        by_task["speed/img56"]["ttft_ms"]["params"]["prompt_tokens"]
        < by_task["speed"]["ttft_ms"]["params"]["prompt_tokens"]
    )
    # decode throughput is batch x per-row tokens/s
    d = by_task["speed/bs2"]
    assert d["tokens_per_s"]["ci_high"] == pytest.approx(2e3 / d["decode_ms_per_token"]["ci_low"])


def test_default_point_relates_to_baseline_and_bandwidth(records):
    speed_rows = {r["metric"]: r["value"] for r in records if r["task"] == "speed"}
    assert speed_rows["speedup_vs_hf_eager"] == pytest.approx(
        speed_rows["hf_eager_decode_ms_per_token"] / speed_rows["decode_ms_per_token"]
    )
    assert speed_rows["bandwidth_fraction"] == pytest.approx(
        speed_rows["bandwidth_bound_ms"] / speed_rows["decode_ms_per_token"]
    )
    assert speed_rows["weight_bytes_per_token_gb"] > 0 and speed_rows["device_bandwidth_gbps"] > 0
    # KV cache grows with the batch
    kv = {r["task"]: r["value"] for r in records if r["metric"] == "mem_kv_cache_gb"}
    assert kv["speed/bs2"] > kv["speed"]


def test_without_a_baseline_no_speedup_is_claimed(tiny_bf16):
    rows = run_speed(
        tiny_bf16,
        "int8_wo",
        "real",
        SpeedOptions(batch_sizes=(1,), image_sizes=(112,), new_tokens=3, warmups=0, repeats=1),
    )
    metrics = {r["metric"] for r in rows}
    assert "decode_ms_per_token" in metrics and not metrics & {"speedup_vs_hf_eager", "hf_eager_ttft_ms"}


def test_oom_point_is_recorded_and_sweep_goes_on(tiny_bf16, monkeypatch):
    real_engine = speed.Engine

    def engine_that_ooms_at_batch_2(loaded, **kwargs):
        if kwargs["max_batch_size"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80 GiB")
        return real_engine(loaded, **kwargs)

    monkeypatch.setattr(speed, "Engine", engine_that_ooms_at_batch_2)
    rows = run_speed(
        tiny_bf16,
        "bf16",
        "real",
        SpeedOptions(batch_sizes=(1, 2, 3), image_sizes=(56,), new_tokens=2, warmups=0, repeats=1),
    )
    oom = [r for r in rows if r["task"] == "speed/bs2"]
    assert [r["metric"] for r in oom] == ["oom"] and "out of memory" in oom[0]["params"]["error"]
    assert any(r["task"] == "speed/bs3" and r["metric"] == "decode_ms_per_token" for r in rows)


def test_sweep_points_default_then_batches_then_images():
    opts = SpeedOptions(batch_sizes=(1, 4, 16), image_sizes=(448, 896))
    assert sweep_points(opts) == [
        ("speed", 1, 448),
        ("speed/bs4", 4, 448),
        ("speed/bs16", 16, 448),
        ("speed/img896", 1, 896),
    ]


@pytest.mark.parametrize(
    "opts",
    [
        SpeedOptions(batch_sizes=(0,)),
        SpeedOptions(image_sizes=(4,)),
        SpeedOptions(new_tokens=1),
        SpeedOptions(workload="imagenet"),
        SpeedOptions(workload="llava_bench"),
    ],
)
def test_bad_options_raise(tiny_bf16, opts):
    with pytest.raises(VlmqError):
        run_speed(tiny_bf16, "bf16", "real", opts)


def test_synthetic_images_are_deterministic():
    a, b = speed.synthetic_image(64, seed=3), speed.synthetic_image(64, seed=3)
    assert a.size == (64, 64) and a.tobytes() == b.tobytes()
    assert a.tobytes() != speed.synthetic_image(64, seed=4).tobytes()


def test_long_context_decode_records_on_cpu(tiny_bf16):
    from vlmq.bench.speed import LongContextOptions, long_context_decode
    from vlmq.engine import KVConfig

    point = LongContextOptions(kv=KVConfig(dtype="fp8", strategy="dynamic"), batch=2, context=64, steps=2, repeats=2)
    rows = {r["metric"]: r for r in long_context_decode(tiny_bf16, "bf16", "real", point)}
    assert rows["decode_ms_per_token"]["task"] == "speed-long/ctx64_bs2" and rows["decode_ms_per_token"]["n"] == 2
    assert rows["decode_ms_per_token"]["device"] == "cpu" and rows["mem_kv_cache_gb"]["value"] > 0


def _kernels(names_us: list[tuple[str, float]], steps: int) -> list[tuple[str, float, float]]:
    """Profiled kernels of ``steps`` identical steps, back to back: (name, start, µs), µs + step index."""
    out, t = [], 0.0
    for s in range(steps):
        for name, us in names_us:
            out.append((name, t, us + s))
            t += us + s
    return out


def test_step_sequence_averages_each_place_over_steps():
    seq = speed.step_sequence(_kernels([("embed", 1.0), ("gemv", 4.0)], steps=3), steps=3)
    assert [s[:2] for s in seq] == [("embed", 2.0), ("gemv", 5.0)]  # means of 1,2,3 and 4,5,6
    assert [s[2] for s in seq] == [2.0, 5.0]  # back to back: each adds its whole duration
    assert speed.step_sequence(_kernels([("a", 1.0)], 3)[:-1], steps=3) is None  # no kernel ran every step
    filled = _kernels([("embed", 1.0), ("gemv", 4.0)], steps=3)
    filled.insert(3, ("fill", 15.0, 0.5))  # a host-side fill between two steps
    assert [s[:2] for s in speed.step_sequence(filled, steps=3)] == [("embed", 2.0), ("gemv", 5.0)]


def test_step_sequence_counts_what_overlapping_kernels_add_to_the_step():
    """With programmatic dependent launch the next kernel starts (and waits) before its predecessor ends: it
    adds only the time past that end; an idle gap before a kernel counts to it."""
    kernels = [("gemv", 0.0, 5.0), ("attn", 3.0, 10.0), ("gemv", 12.0, 4.0), ("gemv", 20.0, 2.0)]
    seq = speed.step_sequence(kernels, steps=1)
    assert seq == [("gemv", 5.0, 5.0), ("attn", 10.0, 8.0), ("gemv", 4.0, 3.0), ("gemv", 2.0, 6.0)]
    assert sum(s[2] for s in seq) == 22.0  # the step's span
    shuffled = _kernels([("a", 1.0), ("b", 1.0)], 2)
    shuffled[2], shuffled[3] = shuffled[3], shuffled[2]
    assert speed.step_sequence(shuffled, steps=2) is None  # the second step launched in another order


def test_fold_layers_names_each_place_of_a_layer():
    layer = [("gemv", 5.0, 5.0), ("attn", 8.0, 6.0), ("gemv", 4.0, 1.0), ("gemv", 16.0, 16.0), ("gemv", 10.0, 10.0)]
    sequence = [("embed", 1.0, 1.0), ("rope", 2.0, 2.0)] + layer * 3 + [("gemv", 130.0, 130.0)]
    sequence[2 + 5] = ("gemv", 7.0, 7.0)  # the second layer's q/k/v took longer
    folded = speed.fold_layers(sequence, layers=3)
    assert (folded["start"], folded["period"]) == (2, 5)
    assert [p["kernel"] for p in folded["places"]] == ["gemv", "attn", "gemv", "gemv", "gemv"]
    qkv = folded["places"][0]
    assert (qkv["min"], qkv["max"]) == (5.0, 7.0) and qkv["us"] == pytest.approx(17 / 3)
    assert folded["places"][1]["added_us"] == 6.0 and folded["places"][2]["added_us"] == 1.0
    assert folded["outside"] == [("embed", 1.0, 1.0), ("rope", 2.0, 2.0), ("gemv", 130.0, 130.0)]
    assert speed.fold_layers(sequence, layers=5) is None  # no pattern repeats five times
