# ruff: noqa  -- recorded as it ran on the device (an ad hoc micro-benchmark)
"""normalize_rows: one program a row vs row slices (ad hoc, tenth session)."""

import statistics

import torch

from vlmq.engine.kernels.gemv import A_FP8, A_INT8, normalize_rows


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


for k in (18944, 8960, 3584, 1536):
    for m in (1, 16):
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        p = torch.rand(k, device="cuda", dtype=torch.bfloat16) + 0.5
        for code, name in ((A_INT8, "int8"), (A_FP8, "fp8")):
            ref = normalize_rows(x, None, 1e-6, p, code, sliced=False)
            for sliced in (False, True):
                for pdl in (False, True):
                    out = normalize_rows(x, None, 1e-6, p, code, sliced=sliced, pdl=pdl)
                    same = torch.equal(out[0].view(torch.uint8), ref[0].view(torch.uint8)) and torch.equal(
                        out[1], ref[1]
                    )
                    t = time_graph(lambda: normalize_rows(x, None, 1e-6, p, code, sliced=sliced, pdl=pdl))
                    print(
                        f"K {k:6d} M {m:2d} {name:5s} sliced {int(sliced)} pdl {int(pdl)}: {t[0]:.2f} us ({t[1]:.2f}-{t[2]:.2f}) same {same}",
                        flush=True,
                    )
