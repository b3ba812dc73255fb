# ruff: noqa  -- recorded as it ran on the device (an ad hoc micro-benchmark)
"""normalize_rows at one row: warps and block size (ad hoc, tenth session)."""

import statistics

import torch

from vlmq.engine.kernels.gemv import A_FP8, A_INT8, normalize_rows

dev = torch.device("cuda")


def time_graph(fn, reps=10, calls=200):
    fn()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(calls):
            fn()
    out = []
    for _ in range(reps):
        s, e = torch.cuda.Event(True), torch.cuda.Event(True)
        s.record()
        g.replay()
        e.record()
        torch.cuda.synchronize()
        out.append(s.elapsed_time(e) * 1e3 / calls)
    return statistics.median(out), min(out), max(out)


for k, norm, smooth in (
    (18944, False, False),
    (3584, False, False),
    (3584, True, True),
    (1536, True, True),
    (8960, False, False),
):
    x = torch.randn(1, k, device=dev, dtype=torch.bfloat16)
    g = torch.rand(k, device=dev, dtype=torch.bfloat16) + 0.5 if norm else None
    p = torch.rand(k, device=dev, dtype=torch.bfloat16) + 0.5 if smooth else None
    for a_mode, name in ((A_INT8, "int8"), (A_FP8, "fp8")):
        ref = normalize_rows(x, g, 1e-6, p, a_mode)
        for block in (32768, 8192, 4096, 2048):
            if block < k and block != 32768 and k > 8192 and block < 2048:
                continue
            for warps in (4, 8, 16, 32):
                if block // (32 * warps) < 1:
                    continue
                try:
                    out = normalize_rows(x, g, 1e-6, p, a_mode, max_block=block, num_warps=warps, pdl=False)
                    same = torch.equal(out[0].view(torch.uint8), ref[0].view(torch.uint8)) and torch.equal(
                        out[1], ref[1]
                    )
                    t = time_graph(
                        lambda: normalize_rows(x, g, 1e-6, p, a_mode, max_block=block, num_warps=warps, pdl=False)
                    )
                    print(
                        f"K {k:6d} norm {int(norm)} smooth {int(smooth)} {name:5s} block {min(block, 1 << (k - 1).bit_length()):6d} warps {warps:2d}: {t[0]:.2f} us ({t[1]:.2f}-{t[2]:.2f}) same {same}",
                        flush=True,
                    )
                except Exception as e:
                    print(f"K {k} {name} block {block} warps {warps}: {type(e).__name__} {str(e)[:80]}", flush=True)
