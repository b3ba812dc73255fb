"""Run the fused decode attention (RoPE, the cache write, the attention over the cache, the in-kernel combine) alone, as
a decode step launches it, for Nsight Compute to read where its warps wait:

    ncu --clock-control none -k regex:decode_attention_kernel --section WarpStateStats --section SourceCounters \\
        --section SpeedOfLight --section Occupancy --section LaunchStats \\
        python3 benchmarks/ncu_attention.py --preset 2b [--cache bf16] [--calls 2]

The preset's heads, batch 1, a 300-token context in a 372-slot cache (``bench_attention.step_attention_inputs``, the
trace's isolated launch), the plan of ``$VLMQ_ATTENTION_PLAN`` (unset: the engine's), each call on its own cache
(Nsight Compute flushes the caches before each profiled launch by default, so the blocks come from HBM as in a step).
One warm-up call compiles first. No timing here: ``bench_attention_trace.py`` times the phases.

Why (forty-third session, CPU only): on Triton 3.6's sm_90 compile of the 2b BF16 kernel (``attention_phases_sass.py``)
a warp issues ~530 instructions between the PDL wait and q rotated (0.83 us in the twenty-fifth session's trace) but
only ~600 between q rotated and the cache's blocks attended (2.67 us): that phase does not wait on its issue. Its
Q K^T is four chains of 8 dependent tensor-core MMAs issued one after another (three on the same accumulators; 252
registers a thread), so in-order issue runs its 32 MMAs back to back (~0.5 us at ~32 cycles each), and the softmax
and P V pass through shared memory behind barriers. The stall reasons (and the SourceCounters section's sampled
stalls per instruction) say which of these, or the blocks loaded ahead of the wait, it waits on; the candidate plan
``block=32,splits=12`` (half the MMAs a program) is profiled beside the default by the planned call.
On a machine without a GPU it says so and exits 2; under Triton's interpreter it runs on the CPU (tests).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

PRESETS = {"2b": "qwen2-vl-2b", "7b": "qwen2-vl-7b"}
CACHES = ("bf16", "dynamic", "visual_aware")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="2b", choices=sorted(PRESETS))
    p.add_argument("--cache", default="bf16", choices=CACHES)
    p.add_argument("--calls", type=int, default=2, help="profiled calls after the warm-up, each on its own cache")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    interpreted = os.environ.get("TRITON_INTERPRET") == "1"
    if not (torch.cuda.is_available() or interpreted):
        print("ncu_attention.py runs the fused attention on a GPU for Nsight Compute: no CUDA device here")
        return 2
    if args.calls < 1:
        raise SystemExit(f"ncu_attention: --calls {args.calls}: give 1 or more")
    from bench_attention import config_attention_shape, step_attention_inputs
    from vlmq.engine.kernels.attention import attention_plan_setting, launch_decode_attention
    from vlmq.models.presets import preset_config

    plan = attention_plan_setting()  # a bad $VLMQ_ATTENTION_PLAN is refused before anything runs
    device = "cpu" if interpreted else "cuda"
    shape = config_attention_shape(preset_config(PRESETS[args.preset]))
    caches, q, key_valid, rope = step_attention_inputs(shape, args.cache, 1, args.calls + 1, device)
    for kv in caches:  # the first compiles (and is profiled too: skip it with ncu's --launch-skip 1)
        out = launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, rope=rope, **plan)
    if not interpreted:
        torch.cuda.synchronize()
    print(f"{args.preset} {args.cache} cache, plan {plan or 'default'}: {len(caches)} calls, output {tuple(out.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
