"""The weight-stream probe (``benchmarks/bench_weight_stream.py``): its kernel XORs each row's words exactly as torch
does for every load shape it times (rows a program, words a load, K not a multiple of the load), with a GEMV's
activation loads too, and
its GEMV-work kernel (int4 products, group scales and zero points) sums as torch does, through Triton's
interpreter on the CPU; an unknown matrix is refused in one line."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = """
import itertools, sys, torch
sys.path.insert(0, {bench!r})
import bench_weight_stream as b
g = torch.Generator().manual_seed(0)
w = torch.randint(-(2**31), 2**31 - 1, (37, 200), dtype=torch.int32, generator=g)
want = b.row_xor(w)
assert not torch.equal(want, torch.zeros_like(want))
for rows, words in itertools.product(b.ROWS, b.WORDS):
    got = b.stream(w, rows, words, 1, 1)
    assert torch.equal(got, want), (rows, words)
worked = b.row_xor(w, 3)
assert not torch.equal(worked, want)
assert torch.equal(b.stream(w, 16, 64, 1, 1, 3), worked)
x = torch.randint(-(2**31), 2**31 - 1, (4, 200), dtype=torch.int32, generator=g)
with_x = b.row_xor(w, 3, x)
assert not torch.equal(with_x, worked)
for rows, words in ((8, 64), (16, 128), (32, 16)):
    assert torch.equal(b.stream(w, rows, words, 1, 1, 3, x), with_x), (rows, words)
w = w[:, :176]  # 11 groups of 16 words
xs = torch.randn(8, 176, generator=g).bfloat16()
scale = (torch.rand(37, 11, generator=g) * 0.02 + 0.001).bfloat16()
zero = torch.randint(-8, 8, (37, 11), generator=g).to(torch.int8)
plain, scaled = b.row_dot(w, xs), b.row_dot(w, xs, scale, zero)
q = torch.stack([(w[:, 0] >> (4 * j)) & 0xF for j in range(8)], dim=-1).float() - 8  # word 0: columns 0-7
first = (q - zero[:, :1].float()) * scale[:, :1].float() @ xs[:, 0].float()
assert torch.allclose(b.row_dot(w[:, :1], xs[:, :1], scale[:, :1], zero[:, :1]), first, atol=1e-5)
assert not torch.allclose(plain, scaled)
for rows, words, warps in ((8, 64, 1), (16, 128, 4), (32, 16, 2)):
    assert b.close(b.dot(w, xs, rows, words, warps, 1), plain), (rows, words)
    assert b.close(b.dot(w, xs, rows, words, warps, 1, scale, zero), scaled), (rows, words)
    assert b.close(b.dot(w, xs, rows, words, warps, 1, scale, zero, bits=True), scaled), (rows, words)
# each --work case through the call run() times (the forty-second session's device run passed dot's bits flag in the
# scale's place, so --work dot timed the scaled kernel on a bool and failed to compile)
assert b.close(b.work_dot("dot", w, xs, 8, 64, 1, 1, scale, zero), plain)
for work in ("dot-scaled", "bits"):
    assert b.close(b.work_dot(work, w, xs, 8, 64, 1, 1, scale, zero), scaled), work
print("ok")
"""


def test_stream_kernel_xors_every_row_as_torch_does(run_interpreted):
    run_interpreted(CHECK)


def test_unknown_matrix_is_refused_in_one_line(tmp_path, capsys):
    pytest.importorskip("triton")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_weight_stream

    with pytest.raises(SystemExit):
        bench_weight_stream.main(["--out", str(tmp_path), "--matrices", "7b gate_up int4,7b lm_head"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--matrices 7b lm_head" in err and "2b gate_up int4" in err
    with pytest.raises(SystemExit):
        bench_weight_stream.main(["--out", str(tmp_path), "--work", "dot,gemm"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--work gemm" in err and "dot-scaled" in err


def test_each_round_of_work_is_an_instruction_of_the_loop():
    """``--ops`` measures what N dependent operations a word cost only if the compiler keeps N of them: with literal
    constants it folded 32 multiply-add rounds into one (the twenty-ninth session's form, whose ops sweep read
    "free" work), so the machine code's K loop must grow by a multiply-add a word a round."""
    pytest.importorskip("triton")
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_weight_stream as b
    from kernel_sass import Recorder, compile_for_h200, loop_body

    recorder = Recorder(b.stream_kernel)
    kernel, b.stream_kernel = b.stream_kernel, recorder
    try:
        for ops in (0, 4, 32):
            b.stream(torch.zeros(64, 448, dtype=torch.int32), 16, 128, 4, 1, ops)
    finally:
        b.stream_kernel = kernel
    imads = [loop_body(compile_for_h200(kernel, *call)[1])["IMAD"] for call in recorder.calls]
    words = 16 * 128 // (4 * 32)  # a thread's words a K step
    assert imads[1] - imads[0] == 4 * words and imads[2] - imads[0] == 32 * words, imads


@pytest.mark.parametrize(
    "flags, named",
    [(["--rows", "8,12"], "--rows 12"), (["--words", "0"], "--words 0"), (["--act", "2"], "--act [2]"),
     (["--ops", "-1"], "--ops [-1]")],
)  # fmt: skip
def test_shapes_and_work_it_cannot_run_are_refused_in_one_line(tmp_path, capsys, flags, named):
    pytest.importorskip("triton")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_weight_stream

    with pytest.raises(SystemExit):
        bench_weight_stream.main(["--out", str(tmp_path), *flags])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert named in err and ("powers of two" in err or "0 (none) or 1" in err)
