# ruff: noqa  -- recorded as it ran on the device (an ad hoc micro-benchmark)
"""greedy_choice (the step's argmax over the vocabulary) under torch.compile: pieces as now vs power-of-two pieces
(ad hoc, tenth session)."""

import math
import statistics

import torch

from vlmq.engine.compiled import greedy_choice


def pieces_of(logits, length):
    b, vocab = logits.shape
    piece = math.gcd(vocab, length)
    values, index = logits.view(b, vocab // piece, piece).max(dim=-1)
    best = values.argmax(dim=-1, keepdim=True)
    return (best * piece + index.gather(-1, best)).squeeze(-1)


def time_graph(fn, x, reps=10, calls=100):
    fn(x)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(calls):
            fn(x)
    out = []
    for _ in range(reps):
        s, e = torch.cuda.Event(True), torch.cuda.Event(True)
        s.record()
        g.replay()
        e.record()
        torch.cuda.synchronize()
        out.append(s.elapsed_time(e) * 1e3 / calls)
    return statistics.median(out), min(out), max(out)


variants = {"now (128 pieces)": greedy_choice}
for length in (64, 128, 256, 512, 1024):
    variants[f"pieces of gcd(vocab, {length})"] = (lambda L: lambda x: pieces_of(x, L))(length)
for vocab in (151936, 152064):
    for dtype in (torch.bfloat16, torch.float32):
        for b in (1, 16):
            x = torch.randn(b, vocab, device="cuda", dtype=dtype)
            ref = x.argmax(-1)
            for name, fn in variants.items():
                c = torch.compile(fn, fullgraph=True, dynamic=False)
                ok = torch.equal(c(x), ref)
                t = time_graph(c, x)
                print(
                    f"vocab {vocab} {str(dtype)[6:]:8s} b {b:2d} {name:28s}: {t[0]:.2f} us ({t[1]:.2f}-{t[2]:.2f}) same {ok}",
                    flush=True,
                )
            t = time_graph(lambda y: y.argmax(-1), x)
            print(
                f"vocab {vocab} {str(dtype)[6:]:8s} b {b:2d} {'ATen argmax':28s}: {t[0]:.2f} us ({t[1]:.2f}-{t[2]:.2f})",
                flush=True,
            )
