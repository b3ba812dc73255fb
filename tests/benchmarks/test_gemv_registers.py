"""benchmarks/gemv_registers.py and kernel_sass.resident_warps: a decode GEMV tile's registers from the sm_90
compiler and the warps an SM holds with them (no GPU)."""

import json
import os
import pathlib
import sys

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import kernel_sass  # noqa: E402


@pytest.mark.parametrize(
    "registers, warps, resident",
    [(128, 1, 16), (64, 1, 32), (46, 2, 42), (255, 4, 8), (94, 4, 20), (32, 1, 32), (32, 4, 64)],
)
def test_resident_warps_follow_registers_then_the_warp_and_block_limits(registers, warps, resident):
    assert kernel_sass.resident_warps(registers, warps) == resident


@pytest.mark.parametrize(
    "registers, warps, shared, resident",
    [(128, 4, 0, 16), (128, 4, 67584, 12), (200, 4, 35840, 8), (255, 2, 35840, 8), (32, 1, 100 * 1024, 2)],
)
def test_resident_warps_stop_at_the_shared_memory_an_sm_holds(registers, warps, shared, resident):
    """A block's shared memory (and the 1 KB the driver keeps a block) bounds the blocks an SM holds: 228 KB."""
    assert kernel_sass.resident_warps(registers, warps, shared) == resident


def test_a_tile_grid_is_compiled_and_tabled_with_the_shipped_tile_marked(tmp_path, capsys):
    pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("compiles real kernels")
    import gemv_registers

    assert gemv_registers.main(["--out", str(tmp_path), "--presets", "2b", "--shapes", "o", "--rows", "4",
                                "--warps", "2", "--vecs", "2,4"]) == 0  # fmt: skip
    rows = json.loads((tmp_path / "registers.json").read_text())
    assert [(r["vec"], r["pipe"]) for r in rows] == [(2, False), (2, True), (4, False), (4, True)]
    shipped = [r for r in rows if r["shipped"]]
    assert [(r["rows"], r["warps"], r["vec"], r["pipe"]) for r in shipped] == [(4, 2, 4, True)]  # tiles/h200.json
    from vlmq.engine.kernels.gemv import FORMAT_NAMES, measured_tiles

    table = measured_tiles()[0][(FORMAT_NAMES["int4"], 1536, 1536)]
    (tile,) = shipped  # compiled as shipped: the table's stages and register cap, the cap held
    assert (tile["stages"], tile["maxnreg"]) == (table[5], table[6])
    assert all(tile[label]["registers"] <= (tile["maxnreg"] or 255) for label in ("plain", "fused"))
    assert all((r["stages"], r["maxnreg"]) == (1, 0) for r in rows if not r["shipped"])
    for r in rows:
        for label in ("plain", "fused"):
            got = r[label]
            assert 16 <= got["registers"] <= 255
            assert got["warps_per_sm"] == kernel_sass.resident_warps(got["registers"], 2)
            assert got["loop_opcodes"]["FFMA"] > 0 and sum(got["loop_opcodes"].values()) < got["instructions"]
        assert r["fused"]["instructions"] > r["plain"]["instructions"]  # the residual add's epilogue
    text = (tmp_path / "registers.md").read_text()
    assert "| 2b o * | int4 | 4 | 2 | 4 | 1 |" in text


@pytest.mark.parametrize("fmt, code, x_dtype", [("fp8", 2, torch.uint8), ("int8-a8", 1, torch.int8)])
def test_w8a8_tiles_are_recorded_as_the_sweep_times_them_and_as_the_engine_runs_them(fmt, code, x_dtype):
    """fp8 (the fp8 recipe's) and int8-a8 (smoothquant's) are W8A8: plain, rows quantized by the caller
    (``X_PRE``); fused, float rows quantized in the kernel -- down_proj's with gate/up's row maxima (``ROW_MAX``
    2), o's in each program's prologue."""
    pytest.importorskip("triton")
    import gemv_registers
    from vlmq.engine.kernels.gemv import FORMAT_NAMES, sum_config

    weights = "fp8" if fmt == "fp8" else "int8"
    cfg = sum_config(FORMAT_NAMES[weights], 1, 1536, 8960, rows=8, warps=1, split=1)
    launches = {
        (shape, fusion is not None): gemv_registers.recorded_launch(fmt, 1536, k, fusion, cfg, shape)[1]
        for shape, k in (("down", 8960), ("o", 1536))
        for fusion in (None, "resid")
    }
    assert all(kwargs["A_MODE"] == code for _, kwargs in launches.values())
    assert launches["down", False][1]["X_PRE"] and launches["o", False][1]["X_PRE"]
    assert launches["down", False][0][0].dtype == x_dtype  # the quantized rows the kernel reads (e4m3 as bits)
    assert launches["down", True][1]["ROW_MAX"] == 2 and not launches["down", True][1]["X_PRE"]  # gemv's x_row_max
    assert launches["o", True][1]["ROW_MAX"] == 0 and not launches["o", True][1]["X_PRE"]


@pytest.mark.parametrize("fmt", ["fp8", "int8-a8"])
def test_the_forwarded_form_quantizes_w8a8_rows_in_the_loop_with_the_norm_deferred(fmt):
    """``$VLMQ_W8A8_ROW_MAX=forward``'s form of q/k/v and gate/up: float rows (not ``normalize_rows``' codes) with
    their maxima before the RMSNorm (``ROW_MAX`` 2), the norm deferred (``NORM`` 2) -- gate/up's too, which the
    engine's rule would normalize first (the form is compiled to count what it would cost)."""
    pytest.importorskip("triton")
    import bench_kernels
    import gemv_registers
    from vlmq.engine.kernels.gemv import FORMAT_NAMES, sum_config

    weights = "fp8" if fmt == "fp8" else "int8"
    for shape, n, k in (("qkv", 2048, 1536), ("gate_up", 17920, 1536)):
        cfg = sum_config(FORMAT_NAMES[weights], 1, n, k, rows=8, warps=1, split=1)
        fused = gemv_registers.recorded_launch(fmt, n, k, bench_kernels.FUSION[shape], cfg, shape)[1][1]
        forwarded = gemv_registers.recorded_launch(fmt, n, k, bench_kernels.FUSION[shape], cfg, shape, True)[1][1]
        assert (forwarded["NORM"], forwarded["ROW_MAX"], forwarded["X_PRE"]) == (2, 2, False), shape
        assert fused["NORM"] != 2 and fused["ROW_MAX"] == 0, shape
    with pytest.raises(ValueError, match="forwarded row maxima are a W8A8 row's"):
        bench_kernels.engine_form("o", "fp8-a8", torch.randn(1, 64, dtype=torch.bfloat16), 64, forwarded=True)


def test_an_unknown_shape_is_refused_naming_the_known_ones():
    import gemv_registers
    from vlmq.errors import VlmqError

    with pytest.raises(VlmqError, match="--shapes up: use some of qkv,"):
        gemv_registers.main(["--out", "x", "--shapes", "up"])


def test_a_tile_past_the_register_file_reports_its_spills():
    """32 rows at vec 4 with the next tile in flight needs more than 255 registers: its spill stores (STL) show in the
    SASS, and the stack bytes they use are reported as its local memory (16 rows spilled too, before K and the row
    strides were compile-time constants: 254 registers now)."""
    pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("compiles real kernels")
    import gemv_registers
    from vlmq.engine.kernels.gemv import W_INT4, sum_config

    cfg = sum_config(W_INT4, 1, 37888, 3584, rows=32, warps=1, vec=4)._replace(pipe=True)
    kernel, (args, kwargs) = gemv_registers.recorded_launch("int4", 37888, 3584, None, cfg)
    compiled = kernel_sass.compile_kernel(kernel, args, kwargs)
    assert compiled.registers == 255 and "STL" in kernel_sass.opcodes(compiled.sass)
    assert compiled.local_bytes > 0


def test_without_triton_it_says_how_to_get_it(monkeypatch, capsys):
    import gemv_registers

    monkeypatch.setitem(sys.modules, "triton", None)  # import triton raises ImportError
    assert gemv_registers.main(["--out", "x", "--shapes", "o"]) == 2
    assert (
        capsys.readouterr().err.strip() == "gemv_registers.py compiles with Triton: pip install triton (no GPU needed)"
    )


SASS = """
        /*0000*/                   LDC R1, c[0x0][0x28] ;
        /*0010*/                   MOV R2, RZ ;
.L_x_1:
        /*0020*/                   LDG.E.128 R4, desc[UR4][R2.64] ;
        /*0030*/                   LOP3.LUT R8, R4, 0x780000, R9, 0xf8, !PT ;
        /*0040*/                   FFMA R10, R8, R11, R10 ;
        /*0050*/                   FFMA R12, R8, R13, R12 ;
        /*0060*/               @!P0 BRA `(.L_x_1) ;
        /*0070*/                   STG.E desc[UR4][R2.64], R10 ;
        /*0080*/                   EXIT ;
"""


def test_the_loop_body_is_counted_between_its_label_and_the_branch_back():
    body = kernel_sass.loop_body(SASS)
    assert body == {"LDG.E.128": 1, "LOP3.LUT": 1, "FFMA": 2, "BRA": 1}
    assert kernel_sass.issued_per_program(SASS, 3) == 5 * 3 + 4
    assert kernel_sass.loop_body("        /*0000*/                   EXIT ;") == {}


def test_a_k_ending_in_half_a_tile_issues_less_than_a_whole_one():
    """The 7b's K = 3584 at 1024-column int4 tiles: the narrower last tile (``gemv.tail_vec``) makes a program issue
    fewer instructions than one over K = 4096 (four whole tiles); a masked whole last tile would issue as many."""
    pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("compiles real kernels")
    import gemv_registers
    from vlmq.engine.kernels.gemv import W_INT4, sum_config

    issued = {}
    for k in (3584, 4096):
        cfg = sum_config(W_INT4, 1, 37888, k, rows=8, warps=1, vec=4, split=1)
        kernel, (args, kwargs) = gemv_registers.recorded_launch("int4", 37888, k, None, cfg)
        sass = kernel_sass.compile_kernel(kernel, args, kwargs).sass
        issued[k] = kernel_sass.issued_per_program(sass, k // cfg.block_k)
    assert issued[3584] < 0.95 * issued[4096]


def test_a_staged_tile_loads_its_weights_through_cp_async():
    """``stages`` > 1 (the 7b int4 gate/up's shipped shape): the K loop's weight tiles go through Triton's software
    pipeliner (LDGSTS: cp.async into shared memory); the one-stage tile loads them into registers only."""
    pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("compiles real kernels")
    import gemv_registers
    from vlmq.engine.kernels.gemv import W_INT4, sum_config

    copies = {}
    for stages in (1, 3):
        cfg = sum_config(W_INT4, 1, 37888, 3584, rows=8, warps=1, vec=4, split=1, stages=stages)
        kernel, (args, kwargs) = gemv_registers.recorded_launch("int4", 37888, 3584, None, cfg)
        copies[stages] = kernel_sass.opcodes(kernel_sass.compile_kernel(kernel, args, kwargs).sass)
    assert not any(op.startswith("LDGSTS") for op in copies[1])
    assert sum(op.startswith("LDGSTS") for op in copies[3]) >= 8  # 8 rows of 128-bit words, at least one tile ahead


def test_a_tiles_register_cap_reaches_the_compiler():
    """A CUDA-core tile's ``maxnreg`` (the one-row sweep times caps on the fused forms) is part of the kernel's
    launch, so the compiled kernel holds at most that many registers where it would hold more (2b int8 gate/up
    with its RMSNorm and SiLU·mul: 167 registers uncapped under Triton 3.6, 72 under 3.8; capped at 64 here)."""
    pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("compiles real kernels")
    import gemv_registers
    from vlmq.engine.kernels.gemv import W_INT8, sum_config

    # the tile the table held when the cap was written (the table's own may already fit under the cap)
    tile = sum_config(W_INT8, 1, 17920, 1536, rows=8, warps=1, vec=4)._replace(pipe=True)
    registers = {}
    for cap in (0, 64):
        kernel, (args, kwargs) = gemv_registers.recorded_launch(
            "int8", 17920, 1536, "norm+silu", tile._replace(maxnreg=cap)
        )
        registers[cap] = kernel_sass.compile_kernel(kernel, args, kwargs).registers
    assert registers[0] > 64 >= registers[64]
