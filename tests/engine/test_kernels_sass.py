"""What the GPU compiler makes of vlmq's exact kernels, checked on a CPU: each kernel is launched here with CPU
tensors against a recorder (no GPU), then compiled for sm_90 with the launch's own arguments and options, and
its SASS disassembled (Triton bundles ptxas and nvdisasm).

Why: the RoPE + KV-write kernel matched eager PyTorch bit for bit in Triton's interpreter but not on the
H200, because LLVM contracted the rotation's bf16 product and sum into one bf16 FMA (``HFMA2.BF16``),
which rounds once where eager rounds three times. The interpreter runs no compiler, so only the machine
code shows such a difference; these tests read it. Skipped where Triton is not installed.
"""

import os
import pathlib
import re
import sys

import pytest
import torch

triton = pytest.importorskip("triton")
if os.environ.get("TRITON_INTERPRET") == "1":
    pytest.skip("compiles real kernels (not under Triton's interpreter)", allow_module_level=True)
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

from kernel_sass import Recorder, compile_for_h200, instruction_lines, loop_body, opcodes  # noqa: E402


def ptx_fmas(ptx: str) -> list[str]:
    return [line.strip() for line in ptx.splitlines() if line.strip().startswith("fma.")]


def rope_inputs(strategy: str, b: int = 2, t: int = 3, hq: int = 12, hkv: int = 2, d: int = 128):
    """q/k/v as split views of one fused bf16 projection, M-RoPE tables and a one-layer cache (qwen2-vl-2b heads)."""
    from vlmq.engine.kv_cache import StaticKVCache
    from vlmq.engine.rope import mrope_cos_sin
    from vlmq.engine.types import KVConfig, KVScales

    qkv = torch.randn(b, t, (hq + 2 * hkv) * d, dtype=torch.bfloat16)
    q, k, v = qkv.split([hq * d, hkv * d, hkv * d], dim=-1)
    inv_freq = 1.0 / (1e6 ** (torch.arange(0, d, 2).float() / d))
    cos, sin = mrope_cos_sin(torch.randint(0, 500, (3, b, t)), inv_freq, [16, 24, 24], torch.bfloat16)
    scales = KVScales(*(torch.full((1, hkv), 0.02) for _ in range(4)))
    kv = KVConfig.for_kind(strategy, scales)
    cache = StaticKVCache(
        num_layers=1,
        max_batch_size=b,
        num_kv_heads=hkv,
        max_seq_len=t + 8,
        head_dim=d,
        dtype=torch.bfloat16,
        device=torch.device("cpu"),
        kv=kv,
    )
    return q, k, v, cos, sin, torch.zeros(b, t, dtype=torch.long), cache.layer(0)


@pytest.mark.parametrize("strategy", ["bf16", "dynamic"])
def test_rope_kv_write_has_no_fused_multiply_add(monkeypatch, strategy):
    """Eager rounds x*cos, rotate_half(x)*sin and their sum separately: the kernel may hold no fused
    multiply-add that would round them once (PTX ``fma``; ``HFMA2.BF16`` in the SASS). The FP8 cache's
    correctly rounded divisions (``eager_triton.exact_quotient``) hold two fp32 FMAs each, by design: each
    quotient's zero-residual test (one ``setp.eq.f32`` against 0) counts them, so any other FMA still shows."""
    import vlmq.engine.kernels.rope_kv_triton as rope_triton
    from vlmq.engine.kernels.rope_kv import launch_rope_kv

    recorder = Recorder(rope_triton.rope_kv_kernel)
    monkeypatch.setattr(rope_triton, "rope_kv_kernel", recorder)
    q, k, v, cos, sin, token_type, kv = rope_inputs(strategy)
    launch_rope_kv(
        q, k, v, cos, sin, kv.k, kv.v, kv.k_scale, kv.v_scale, list(kv.tables or ()), torch.arange(3) + 2, token_type
    )
    ptx, sass = compile_for_h200(recorder.kernel, *recorder.calls[0])
    ops = opcodes(sass)
    assert "FMUL" in ops and "FADD" in ops, "the rotation is not in this kernel any more: update the test"
    quotients = len(re.findall(r"setp\.eq\.f32\s+%p\d+, %r\d+, 0f00000000;", ptx))
    assert (quotients > 0) == (strategy != "bf16")
    fmas = ptx_fmas(ptx)
    assert len(fmas) == 2 * quotients and all(f.startswith("fma.rn.f32") for f in fmas), fmas[:4]
    assert not [op for op in ops if op.startswith("HFMA2.BF16")], sorted(set(ops))


def test_fused_rope_attention_rotates_without_bf16_fma(monkeypatch):
    """The decode-attention kernel with the RoPE + write prologue: no bf16 FMA (its softmax may use fp32 FMAs,
    which eager's attention does not round against)."""
    import vlmq.engine.kernels.attention_triton as attention_triton
    from vlmq.engine.kernels.attention import launch_decode_attention

    recorder = Recorder(attention_triton.decode_attention_kernel)
    monkeypatch.setattr(attention_triton, "decode_attention_kernel", recorder)
    q, k, v, cos, sin, token_type, kv = rope_inputs("dynamic", t=1)
    key_valid = torch.ones(2, kv.k.shape[2], dtype=torch.bool)
    for prefetch in (1, 2):  # 2: the candidate plan that loads two cache blocks before the PDL wait
        launch_decode_attention(
            q,
            kv.k,
            kv.v,
            kv.k_scale,
            kv.v_scale,
            key_valid,
            rope=(k, v, cos, sin, [], torch.tensor([4]), token_type),
            prefetch_blocks=prefetch,
        )
    for call in recorder.calls:
        ops = opcodes(compile_for_h200(recorder.kernel, *call)[1])
        assert "HMMA.16816.F32.BF16" in ops, "no bf16 tensor-core product: not the attention kernel?"
        assert not [op for op in ops if op.startswith("HFMA2.BF16")], sorted(set(ops))


def fused_attention_launches(monkeypatch, *plans: dict) -> Recorder:
    """The fused decode attention's launches, recorded: 2b heads, batch 1, at a 5-split plan over BF16 and FP8
    (dynamic) caches, once per plan (``launch_decode_attention`` keywords)."""
    import vlmq.engine.kernels.attention_triton as attention_triton
    from vlmq.engine.kernels.attention import launch_decode_attention

    recorder = Recorder(attention_triton.decode_attention_kernel)
    monkeypatch.setattr(attention_triton, "decode_attention_kernel", recorder)
    for strategy in ("bf16", "dynamic"):
        q, k, v, cos, sin, token_type, kv = rope_inputs(strategy, b=1, t=1)
        key_valid = torch.ones(1, kv.k.shape[2], dtype=torch.bool)
        rope = (k, v, cos, sin, [], torch.tensor([4]), token_type)
        for plan in plans:
            launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, rope=rope, max_splits=5, **plan)
    return recorder


def test_fused_attention_loads_its_cache_blocks_in_128_bit_vectors(monkeypatch):
    """The fused decode attention (2b heads, its default warps: 4 over BF16 caches, 2 over FP8) reads K and V 16 bytes a
    lane: the launch's tuple of cache pointers and strides is specialized element by element as Triton's JIT does
    (16-byte aligned pointers, strides divisible by 16). Compiled without that, the same kernel loads 2 bytes a lane
    (512 LDG.E.U16 for BF16 caches, and spills), which would misstate what the GPU runs; the few narrow loads left are
    the slot, the valid flags and the token type (14 at 4 warps under Triton 3.8)."""
    recorder = fused_attention_launches(monkeypatch, {})
    for args, kwargs in recorder.calls:
        ops = opcodes(compile_for_h200(recorder.kernel, args, kwargs)[1])
        narrow = [op for op in ops if op in ("LDG.E.U16", "LDG.E.U8")]
        wide = [op for op in ops if op.startswith(("LDG.E.128", "LDGSTS.E.BYPASS.128", "LDGSTS.E.64"))]
        assert len(narrow) <= 16 and len(wide) >= 32, (kwargs["IS_FP8"], len(narrow), len(wide))


def test_combine_a_tile_a_split_exchanges_nothing_through_shared_memory(monkeypatch):
    """The fused decode attention's last program combines the splits' partials after its arrival (the atomic): as one
    [splits, rows, D] tile (``combine_form=0``, the earlier plan) Triton moves the maxima and sums to the accumulators'
    layout through shared memory behind barriers; as a tile a split (the default) it does not (2b heads, BF16 and FP8
    caches at their default warps; at 2 warps, Triton 3.6: 18 barriers and 159 shared loads and stores against 3 and 4;
    Triton 3.8: 13 and 23 against 3 and 4; BF16 at 4 warps, Triton 3.8: 11 and 14 against at most 4 and 8). The
    twenty-fourth session's trace put ~2 us a layer on this combine."""
    recorder = fused_attention_launches(monkeypatch, {"combine_form": 0}, {"combine_form": 1})
    for args, kwargs in recorder.calls:
        ops = [op for op, _ in instruction_lines(compile_for_h200(recorder.kernel, args, kwargs)[1])[0]]
        after = ops[next(i for i, op in enumerate(ops) if op.startswith("ATOMG.E.ADD")) :]
        barriers = sum(op.startswith("BAR.SYNC") for op in after)
        shared = sum(op.startswith(("LDS", "STS")) for op in after)
        if kwargs["COMBINE_FORM"] == 1:
            assert barriers <= 4 and shared <= 8, (kwargs["IS_FP8"], barriers, shared)
        else:
            assert barriers >= 10 and shared >= 12, (kwargs["IS_FP8"], barriers, shared)


def test_one_stage_attention_issues_no_copies_for_a_loop_a_one_block_split_never_runs(monkeypatch):
    """The default one stage and ``$VLMQ_ATTENTION_PLAN=stages=3`` reach the kernel's compile: at three stages (the
    earlier default) the loop over a split's later blocks is software-pipelined (its prologue's cp.async copies,
    LDGSTS, issue even where the loop runs no iteration: a one-block split at a short context); at one stage it has
    none (2b heads, BF16 and FP8)."""
    recorder = fused_attention_launches(monkeypatch, {}, {"num_stages": 3})
    counts = {}
    for args, kwargs in recorder.calls:
        ops = opcodes(compile_for_h200(recorder.kernel, args, kwargs)[1])
        counts[(kwargs["IS_FP8"], kwargs["num_stages"])] = sum(op.startswith("LDGSTS") for op in ops)
    assert sorted(counts) == [(False, 1), (False, 3), (True, 1), (True, 3)], counts
    assert counts[(False, 1)] == counts[(True, 1)] == 0 and min(counts[(False, 3)], counts[(True, 3)]) >= 32, counts


def integer_rounding(operands: str) -> bool:
    """An instruction of ``eager_triton.round_to_bf16``'s integer form: ``bits + 0x7FFF + ...`` (IADD3's constant)."""
    return bool(re.search(r"\b0x7fff\b", operands))


def test_rope_rounds_in_the_hardware_with_fewer_instructions_from_the_wait_to_the_first_dot(monkeypatch):
    """``$VLMQ_ATTENTION_PLAN=rounding=1`` reaches the fused decode attention's compile: q's and k's RoPE products
    round to bf16 with the GPU's conversion (``cvt.rn.bf16x2.f32``), and from the PDL wait (ACQBULK) to the first
    tensor-core dot it issues fewer instructions than with the default integer rounding (2b heads, Triton 3.6: BF16
    362 against 452, FP8 1008 against 1151), whose ``bits + 0x7FFF + ...`` shows as that constant among the
    window's operands."""
    from vlmq.engine.kernels import pdl

    monkeypatch.setattr(pdl, "pdl_capable", lambda device: True)
    recorder = fused_attention_launches(monkeypatch, {}, {"rounding": 1})
    spans, converts, integer = {}, {}, {}
    for args, kwargs in recorder.calls:
        ptx, sass = compile_for_h200(recorder.kernel, args, kwargs)
        lines = instruction_lines(sass)[0]
        ops = [op for op, _ in lines]
        wait = ops.index("ACQBULK")
        window = lines[wait : next(i for i, op in enumerate(ops) if op.startswith("HMMA"))]
        key = (kwargs["IS_FP8"], kwargs["HW_ROUNDING"])
        spans[key], converts[key] = len(window), ptx.count("cvt.rn.bf16x2.f32")  # casts to bf16 make them too
        integer[key] = sum(integer_rounding(operands) for _, operands in window)
    assert sorted(spans) == [(False, False), (False, True), (True, False), (True, True)], spans
    for fp8 in (False, True):
        assert integer[(fp8, True)] == 0 and integer[(fp8, False)] >= 16, integer
        assert converts[(fp8, True)] >= converts[(fp8, False)] + 16, converts
        assert spans[(fp8, True)] <= spans[(fp8, False)] - 60, spans


def test_traced_attention_reads_the_timers_after_the_wait_and_each_phase(monkeypatch):
    """``$VLMQ_ATTENTION_TRACE=1`` (the fused decode attention's phases in a step): the traced kernel reads the global
    timer and the SM clock seven times each -- at its start, after the PDL wait, once q is loaded after it, after the
    cache's blocks, after the attention, after the arrival and after the combine -- each read predicated on a value
    of that phase, the one after the wait placed after it; its record goes to the ring through one atomic.
    Untraced, the kernel reads no timer."""
    import vlmq.engine.kernels.attention_triton as attention_triton
    from vlmq.engine.kernels import pdl
    from vlmq.engine.kernels.attention import TRACE_RECORDS, TRACE_WIDTH, launch_fused_attention
    from vlmq.errors import VlmqError

    monkeypatch.setattr(pdl, "pdl_capable", lambda device: True)
    recorder = Recorder(attention_triton.decode_attention_kernel)
    monkeypatch.setattr(attention_triton, "decode_attention_kernel", recorder)
    q, k, v, cos, sin, token_type, kv = rope_inputs("bf16", t=1)
    key_valid = torch.ones(2, kv.k.shape[2], dtype=torch.bool)
    for value in ("1", "0"):
        monkeypatch.setenv("VLMQ_ATTENTION_TRACE", value)
        launch_fused_attention(
            q, k, v, cos, sin, kv.k, kv.v, None, None, [], torch.tensor([4]), token_type, key_valid
        )  # fmt: skip
    (traced_args, traced), (_, plain) = recorder.calls
    assert traced["TRACE"] and traced["TRACE_RECORDS"] == TRACE_RECORDS and "TRACE" not in plain
    assert traced["trace_ptr"].shape == (TRACE_RECORDS, TRACE_WIDTH) and TRACE_WIDTH >= 20
    ptx, _ = compile_for_h200(recorder.kernel, traced_args, traced)
    timers, clocks = ptx.count("%globaltimer"), ptx.count("%clock64")
    assert timers == clocks == 8, (timers, clocks)  # seven places; the single-split path has its own end
    assert ptx.find("griddepcontrol.wait") < ptx.find("%globaltimer", ptx.find("%globaltimer") + 1)
    assert "@p mov.u64" in ptx.replace("\t", " ") or "@p mov.u64" in ptx
    plain_ptx, _ = compile_for_h200(recorder.kernel, *recorder.calls[1])
    assert "%globaltimer" not in plain_ptx and "%clock64" not in plain_ptx

    monkeypatch.setenv("VLMQ_ATTENTION_TRACE", "yes")
    with pytest.raises(VlmqError, match="VLMQ_ATTENTION_TRACE='yes': use 1"):
        launch_fused_attention(q, k, v, cos, sin, kv.k, kv.v, None, None, [], torch.tensor([4]), token_type, key_valid)


def test_row_prologue_rounds_every_step(monkeypatch):
    """``normalize_rows`` (RMSNorm, pre-scale, int8 quantization of bf16 rows) runs eager's arithmetic step by
    step: its launch turns off FMA contraction, so its PTX holds no ``fma``."""
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels.gemv import A_INT8, normalize_rows

    recorder = Recorder(gemv_triton.normalize_rows_kernel)
    monkeypatch.setattr(gemv_triton, "normalize_rows_kernel", recorder)
    x, g, pre = torch.randn(2, 1536).bfloat16(), torch.rand(1536).bfloat16(), torch.rand(1536).bfloat16()
    normalize_rows(x, g, 1e-6, pre, A_INT8)
    ptx, _ = compile_for_h200(recorder.kernel, *recorder.calls[0])
    assert "mul.rn.f32" in ptx and not ptx_fmas(ptx), ptx_fmas(ptx)[:4]


def test_decode_gemv_norm_prologue_keeps_qwen2_rounding(monkeypatch):
    """The CUDA-core GEMV's RMSNorm prologue rounds x * r and weight * h to bf16 as Qwen2RMSNorm does: no bf16
    FMA may absorb those roundings (fp32 FMAs of the dot product itself are fine)."""
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels.gemv import gemv

    recorder = Recorder(gemv_triton.gemv_kernel)
    monkeypatch.setattr(gemv_triton, "gemv_kernel", recorder)
    x, g = torch.randn(1, 1536).bfloat16(), torch.rand(1536).bfloat16()
    gemv(x, torch.randn(256, 1536).bfloat16(), norm_weight=g)
    ptx, sass = compile_for_h200(recorder.kernel, *recorder.calls[0])
    ops = opcodes(sass)
    assert "F2FP.BF16.F32.PACK_AB" in ops, "no bf16 rounding in the prologue: update the test"
    assert not [op for op in ops if op.startswith("HFMA2.BF16")] and "fma.rn.bf16" not in ptx


@pytest.mark.parametrize(
    "fmt, a_mode, post",
    [
        ("bf16", "bf16", False),
        ("int8", "bf16", False),
        ("int8", "int8", False),
        ("fp8", "fp8", False),
        ("int4", "bf16", True),
    ],
)
def test_swapped_tensor_core_tiles_compile_to_warpgroup_mma(monkeypatch, fmt, a_mode, post):
    """Swapped operands put the 64 weight rows of a tile on the MMA's M side, which Hopper's warpgroup MMA
    (``HGMMA`` / ``IGMMA`` / ``QGMMA``, 64 rows) serves; the unswapped 16-row tile runs ``mma.sync``. Compiled
    here for sm_90: Triton's interpreter runs no type checks (a swapped tile once compiled only there)."""
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels import pack_int4, quantize_activation
    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.gemv import dot_config, gemv, weight_format

    recorder = Recorder(gemv_triton.gemv_kernel)
    monkeypatch.setattr(gemv_triton, "gemv_kernel", recorder)
    n, k = 1024, 1536
    weight = {
        "bf16": torch.randn(n, k).bfloat16(),
        "int8": torch.randint(-128, 128, (n, k), dtype=torch.int8),
        "fp8": torch.randn(n, k).to(torch.float8_e4m3fn),
        "int4": pack_int4(torch.randint(-8, 8, (n, k), dtype=torch.int8)),
    }[fmt]
    scale = torch.rand(n, k // 128).bfloat16() if fmt == "int4" else (torch.rand(n) if fmt != "bf16" else None)
    x, xs = (
        quantize_activation(torch.randn(16, k).bfloat16(), a_mode)
        if a_mode != "bf16"
        else (torch.randn(16, k).bfloat16(), None)
    )
    for swap, block_n, warps in ((True, 64, 4), (False, 64, 4), (True, 256, 8)):  # the last: two warpgroups
        cfg = dot_config(
            weight_format(weight), 16, n, k, 128, block_n=block_n, warps=warps, split=1, swap=swap, post=post
        )
        gemv(x, weight, scale, None, 128 if fmt == "int4" else 0, x_scale=xs, a_mode=A_MODE_CODES[a_mode], config=cfg)
    sass = [compile_for_h200(recorder.kernel, *call)[1] for call in recorder.calls]
    mmas = [{word.split(".")[0] for word in code.split() if "MMA" in word and word[0].isalpha()} for code in sass]
    # bf16: HGMMA / HMMA; int8: IGMMA / IMMA; e4m3: QGMMA (Hopper has no e4m3 mma.sync: converted to HMMA)
    assert any(op.endswith("GMMA") for op in mmas[0]) and not any(op.endswith("GMMA") for op in mmas[1]), mmas
    assert any(op.endswith("GMMA") for op in mmas[2]), mmas


def k_loop(sass: str) -> list[str]:
    """The instructions of the smallest loop (a backward branch to a label) that holds a tensor-core MMA: a tile's K
    loop. Without those predicated off for good (``@!PT``: placeholders the software pipeliner leaves)."""
    start_of, pending, code = {}, [], []
    for line in sass.splitlines():
        text = line.strip()
        if text.startswith(".L") and text.endswith(":"):
            pending.append(text[:-1])
        elif text.startswith("/*") and "*/" in text and text.split("*/", 1)[1].strip():
            start_of |= dict.fromkeys(pending, len(code))
            pending = []
            code.append(text.split("*/", 1)[1].strip().rstrip(" ;"))
    loops = []
    for end, ins in enumerate(code):
        target = ins.split("`(")[-1].rstrip(")") if "BRA" in ins and "`(" in ins else None
        if target in start_of and start_of[target] <= end:
            body = code[start_of[target] : end + 1]
            loops += [body] if any("MMA" in i for i in body) else []
    return [i for i in min(loops, key=len) if not i.startswith("@!PT")]


def loop_ops(loop: list[str]) -> list[str]:
    return [ins.split()[1] if ins.startswith("@") else ins.split()[0] for ins in loop]


def shared_store_bytes(ops: list[str]) -> int:
    """Bytes one thread stores to shared memory (``STS``, ``STSM`` = stmatrix of four 8x8 16-bit tiles)."""
    width = {"U8": 1, "S8": 1, "U16": 2, "S16": 2, "64": 8, "128": 16}
    total = 0
    for op in ops:
        base, *mods = op.split(".")
        if base == "STS":
            total += next((width[m] for m in mods if m in width), 4)
        elif base == "STSM":
            total += 16
    return total


def test_int4_fragment_order_tiles_unpack_into_the_mma_operand_in_registers(monkeypatch):
    """Fragment order (``frag``): each lane loads the int4 words of its own MMA fragment, so the unpacked weights go
    into the MMA as they are: no shared-memory round trip of the weight tile (no stmatrix / ldmatrix, at most half
    the bytes stored per K step: only the 16-row activation tile is stored, permuted), made as bf16 pairs by one
    LOP3 and one or two bf16x2 FMAs (no fp32 -> bf16 conversion), fewer instructions per K step, and with ``post``
    no sum of the activations (the zero points are in the codes: no shuffles). 2b gate_up (17920 x 1536), 16 rows,
    column order vs fragment order, on warpgroup MMAs (swapped; also two warpgroups) and mma.sync, with and without
    zero points."""
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels import pack_int4
    from vlmq.engine.kernels.gemv import W_INT4, dot_config, gemv

    recorder = Recorder(gemv_triton.gemv_kernel)
    monkeypatch.setattr(gemv_triton, "gemv_kernel", recorder)
    n, k = 17920, 1536
    weight = pack_int4(torch.randint(-8, 8, (n, k), dtype=torch.int8))
    scale, x = torch.rand(n, k // 128).bfloat16(), torch.randn(16, k).bfloat16()
    zero = torch.randint(-8, 8, (n, k // 128), dtype=torch.int8)
    tiles = [(64, 64, 4, True, True, False), (64, 64, 4, True, True, True), (64, 64, 4, True, False, True)]
    tiles += [(64, 64, 4, False, True, True), (32, 128, 4, False, False, False), (32, 128, 4, False, False, True)]
    tiles.append((256, 64, 8, True, True, False))
    for block_n, block_k, warps, swap, post, zeros in tiles:
        for frag in (False, True):
            cfg = dot_config(W_INT4, 16, n, k, 128, block_n=block_n, block_k=block_k, warps=warps, split=2)
            cfg = cfg._replace(swap=swap, post=post, frag=frag)
            gemv(x, weight, scale, zero if zeros else None, 128, config=cfg)
    loops = [loop_ops(k_loop(compile_for_h200(recorder.kernel, *call)[1])) for call in recorder.calls]
    for (block_n, block_k, warps, swap, post, zeros), column, frag in zip(tiles, loops[::2], loops[1::2]):
        tile = f"{block_n}x{block_k} {warps} warps swap={swap} post={post} zeros={zeros}"
        mma = "HGMMA" if swap else "HMMA"
        assert any(op.startswith(mma) for op in frag), (tile, sorted(set(frag)))
        assert any(op.startswith(("LDSM", "STSM", "STS.128")) for op in column), f"{tile}: column order changed"
        assert not any(op.startswith(("LDSM", "STSM")) for op in frag), (tile, sorted(set(frag)))
        assert 2 * shared_store_bytes(frag) <= shared_store_bytes(column), (tile, frag, column)
        assert len(frag) < len(column), (tile, len(frag), len(column))
        assert any(op.startswith("F2FP") for op in column) and not any(op.startswith("F2FP") for op in frag), tile
        if post:
            assert any(op.startswith("SHFL") for op in column) and not any(op.startswith("SHFL") for op in frag), tile


@pytest.mark.parametrize("trigger", ["late", "early", "attention", "gemv, rows", "qkv, attention", "o,down"])
def test_pdl_trigger_places_launch_dependents_around_the_wait(monkeypatch, trigger):
    """``$VLMQ_PDL_TRIGGER``: a kernel that triggers early lets the next one launch as it starts (before its own
    griddepcontrol.wait), one that triggers late only after its sums; in both the wait still precedes every read of
    the previous kernel's output, so only the overlap changes. ``early`` / ``late`` set every kernel, a list the
    named ones (the rest late): kernels, or GEMVs by the projection their fusions say they run (q/k/v: neither
    SiLU·mul nor a residual; o: a residual with K = N; down: a residual, K != N; gate/up: SiLU·mul). Checked in the
    PTX of the GEMV, the row prologue and the fused decode attention, launched as on Hopper."""
    import vlmq.engine.kernels.attention_triton as attention_triton
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels import pdl
    from vlmq.engine.kernels.attention import launch_decode_attention
    from vlmq.engine.kernels.gemv import A_INT8, ACT_SILU_MUL, gemv, normalize_rows
    from vlmq.errors import VlmqError

    monkeypatch.setattr(pdl, "pdl_capable", lambda device: True)
    monkeypatch.setenv("VLMQ_PDL_TRIGGER", trigger)
    kernels = {"gemv": (gemv_triton, "gemv_kernel"), "rows": (gemv_triton, "normalize_rows_kernel")}
    kernels["attention"] = (attention_triton, "decode_attention_kernel")
    recorders = {kind: Recorder(getattr(module, name)) for kind, (module, name) in kernels.items()}
    for kind, (module, name) in kernels.items():
        monkeypatch.setattr(module, name, recorders[kind])
    x, g = torch.randn(1, 1536).bfloat16(), torch.rand(1536).bfloat16()
    projections = ("qkv", "o", "down", "gate_up")  # the order of the GEMV launches below
    gemv(x, torch.randn(256, 1536).bfloat16(), norm_weight=g)
    gemv(x, torch.randn(1536, 1536).bfloat16(), residual=torch.randn(1, 1536).bfloat16())
    gemv(x, torch.randn(256, 1536).bfloat16(), residual=torch.randn(1, 256).bfloat16())
    gemv(x, torch.randn(512, 1536).bfloat16(), norm_weight=g, act=ACT_SILU_MUL)
    normalize_rows(torch.randn(2, 1536).bfloat16(), g, 1e-6, None, A_INT8)
    q, k, v, cos, sin, token_type, kv = rope_inputs("bf16", t=1)
    key_valid = torch.ones(2, kv.k.shape[2], dtype=torch.bool)
    rope = (k, v, cos, sin, [], torch.tensor([4]), token_type)
    launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, rope=rope)
    named = [name.strip() for name in trigger.split(",")]
    launches = [("gemv", projection, call) for projection, call in zip(projections, recorders["gemv"].calls)]
    launches += [(kind, None, recorders[kind].calls[0]) for kind in ("rows", "attention")]
    assert len(launches) == 6
    for kind, projection, (args, kwargs) in launches:
        early = trigger == "early" or kind in named or projection in named
        assert kwargs["launch_pdl"] and kwargs["PDL"] == (2 if early else 1), (kind, projection)
        if kind == "gemv" and projection not in ("qkv", "o"):
            continue  # the PTX of one GEMV of each trigger value is enough (compiling costs seconds)
        ptx, _ = compile_for_h200(recorders[kind].kernel, args, kwargs)
        wait, launch = ptx.find("griddepcontrol.wait"), ptx.find("griddepcontrol.launch_dependents")
        assert wait >= 0 and launch >= 0, kind
        assert (launch < wait) == early, (kind, projection)

    monkeypatch.setenv("VLMQ_PDL_TRIGGER", "soon")
    with pytest.raises(VlmqError, match="VLMQ_PDL_TRIGGER='soon': use measured, late, early or the names that trigger"):
        gemv(x, torch.randn(256, 1536).bfloat16(), norm_weight=g)


@pytest.mark.parametrize("trigger", ["measured", None])
def test_pdl_trigger_measured_default_is_early_only_where_it_measured_faster(monkeypatch, trigger):
    """The default (``measured``): a GEMV triggers early only in the cases of ``MEASURED_EARLY`` -- q/k/v with bf16
    weights on either kernel, down_proj with bf16 weights and o_proj and q/k/v with int4 weights on the CUDA cores
    (batch 1), q/k/v with
    int8 weights on either (fp8's -- q/k/v on either, o on the CUDA cores -- not in this float-row test) -- and late
    in the neighbouring ones (the same projection in the other kernel or format, another projection); the row
    prologue and the attention late."""
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels import pdl
    from vlmq.engine.kernels.gemv import gemv
    from vlmq.engine.kernels.w4 import pack_int4

    monkeypatch.setattr(pdl, "pdl_capable", lambda device: True)
    if trigger is None:
        monkeypatch.delenv("VLMQ_PDL_TRIGGER", raising=False)
    else:
        monkeypatch.setenv("VLMQ_PDL_TRIGGER", trigger)
    recorder, rows = Recorder(gemv_triton.gemv_kernel), Recorder(gemv_triton.normalize_rows_kernel)
    monkeypatch.setattr(gemv_triton, "gemv_kernel", recorder)
    monkeypatch.setattr(gemv_triton, "normalize_rows_kernel", rows)
    g = torch.rand(1536).bfloat16()
    w_bf16 = torch.randn(1536, 1536).bfloat16()
    w_int4 = pack_int4(torch.randint(-8, 8, (1536, 1536), dtype=torch.int8))
    scale = torch.rand(1536, 1536 // 128).bfloat16()
    w_int8 = torch.randint(-127, 128, (1536, 1536), dtype=torch.int8)
    cases = {  # (projection, weights, rows): early by default
        ("qkv", "bf16", 16): True,
        ("qkv", "bf16", 1): True,
        ("qkv", "int4", 16): False,
        ("qkv", "int4", 1): True,
        ("o", "int4", 1): True,
        ("o", "int4", 16): False,
        ("o", "bf16", 1): False,
        ("qkv", "int8", 1): True,
        ("qkv", "int8", 16): True,
        ("o", "int8", 1): False,
        ("down", "bf16", 1): True,
        ("down", "bf16", 16): False,
        ("down", "int8", 1): False,
        ("lm_head", "bf16", 1): True,
        ("lm_head", "int8", 1): False,  # q/k/v's int8 entries do not reach it
    }
    weights = {"int4": (w_int4, scale, None, 128), "bf16": (w_bf16,), "int8": (w_int8, torch.rand(1536).bfloat16())}
    vocab = {"bf16": (torch.randn(8192, 1536).bfloat16(),), "int8": (w_int8.repeat(6, 1), torch.rand(9216).bfloat16())}
    for projection, fmt, m in cases:
        x = torch.randn(m, 1536).bfloat16()
        w4 = weights[fmt]
        if projection == "lm_head":
            gemv(x, *vocab[fmt], norm_weight=g)
        elif projection == "qkv":
            gemv(x, *w4, norm_weight=g)
        elif projection == "down":  # K > N: the MLP's intermediate back to the hidden size
            wide = (w_bf16.repeat(1, 2),) if fmt == "bf16" else (w_int8.repeat(1, 2), w4[1])
            gemv(torch.randn(m, 3072).bfloat16(), *wide, residual=torch.randn(m, 1536).bfloat16())
        else:
            gemv(x, *w4, residual=torch.randn(m, 1536).bfloat16())
    assert len(recorder.calls) == len(cases)
    for (case, early), (_, kwargs) in zip(cases.items(), recorder.calls):
        assert kwargs["DOT"] == (case[2] > 4), case  # the kernel the case names
        assert kwargs["PDL"] == (pdl.PDL_EARLY if early else pdl.PDL_LATE), case
    assert rows.calls and all(kwargs["PDL"] == pdl.PDL_LATE for _, kwargs in rows.calls)


def test_a_deferred_rmsnorm_runs_in_the_cuda_core_gemv_alone_with_its_multiplier_after_the_k_loop(monkeypatch):
    """``$VLMQ_NORM_DEFER``: the named projections' RMSNorm is deferred (the kernel's ``NORM`` 2) where the launch can
    -- CUDA cores, float rows, one K slice -- and nowhere else: W8A8 rows, split-K tiles, the tensor-core kernel and
    a norm asked to run first keep theirs; int4 gate/up's norm, which runs first by the measured rule, stays in its
    launch (no ``normalize_rows``). In the sm_90 PTX the deferred launch computes its rows' multiplier (the one
    ``rsqrt``) after the K loop's back edge, the prologue's before the loop."""
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels import pdl
    from vlmq.engine.kernels.gemv import A_INT8, ACT_SILU_MUL, NORM_DEFER_ENV, W_FLOAT, gemv, sum_config
    from vlmq.engine.kernels.w4 import pack_int4

    monkeypatch.setattr(pdl, "pdl_capable", lambda device: True)
    recorder, rows = Recorder(gemv_triton.gemv_kernel), Recorder(gemv_triton.normalize_rows_kernel)
    monkeypatch.setattr(gemv_triton, "gemv_kernel", recorder)
    monkeypatch.setattr(gemv_triton, "normalize_rows_kernel", rows)
    g = torch.rand(1536).bfloat16()
    w_bf16 = torch.randn(2048, 1536).bfloat16()
    w_int4 = pack_int4(torch.randint(-8, 8, (2 * 8960, 1536), dtype=torch.int8))
    scale4 = torch.rand(2 * 8960, 1536 // 128).bfloat16()
    w_int8, scale8 = torch.randint(-127, 128, (2048, 1536), dtype=torch.int8), torch.rand(2048).bfloat16()
    x1, x16 = torch.randn(1, 1536).bfloat16(), torch.randn(16, 1536).bfloat16()

    def launch(setting, x, *weights, **kwargs):
        monkeypatch.setenv(NORM_DEFER_ENV, setting)
        calls, first = len(recorder.calls), len(rows.calls)
        gemv(x, *weights, norm_weight=g, **kwargs)
        assert len(recorder.calls) == calls + 1
        return recorder.calls[-1][1]["NORM"], len(rows.calls) - first

    gate_up = (w_int4, scale4, None, 128)
    assert launch("none", x1, *gate_up, act=ACT_SILU_MUL) == (False, 1)  # the measured rule: normalize_rows first
    assert launch("gate_up", x1, *gate_up, act=ACT_SILU_MUL) == (2, 0)
    assert launch("qkv", x1, *gate_up, act=ACT_SILU_MUL) == (False, 1)  # not named
    assert launch("qkv", x1, w_bf16) == (2, 0)
    assert launch("none", x1, w_bf16) == (True, 0)  # the prologue's statistics pass
    assert launch("qkv", x1, w_int8, scale8) == (2, 0)
    assert launch("qkv", x1, w_int8, scale8, a_mode=A_INT8) == (True, 0)  # W8A8: the rows' maxima need the norm
    split = sum_config(W_FLOAT, 1, 2048, 1536, split=2, vec=1)
    assert launch("qkv", x1, w_bf16, config=split) == (True, 0)  # a slice sees part of the row
    assert launch("qkv", x16, w_bf16) == (False, 1)  # the tensor-core kernel: normalize_rows first
    assert launch("qkv", x1, w_bf16, norm_first=True) == (False, 1)
    ptx = {}
    for setting in ("gate_up", "none"):
        monkeypatch.setenv(NORM_DEFER_ENV, setting)
        gemv(x1, *gate_up, norm_weight=g, act=ACT_SILU_MUL, norm_first=False)
        ptx[setting] = compile_for_h200(recorder.kernel, *recorder.calls[-1])[0]
    for setting, deferred in (("gate_up", True), ("none", False)):
        lines = ptx[setting].splitlines()
        labels = {found[1]: i for i, line in enumerate(lines) if (found := re.match(r"(\$L__\w+):", line.strip()))}
        back_edges = [
            i for i, line in enumerate(lines) for target in re.findall(r"bra(?:\.uni)?\s+(\$L__\w+);", line)
            if labels.get(target, i + 1) < i
        ]  # fmt: skip
        rsqrt = [i for i, line in enumerate(lines) if line.strip().startswith("rsqrt.")]
        assert back_edges and len(rsqrt) == 1, setting
        loop_start = min(labels[re.findall(r"(\$L__\w+);", lines[i])[0]] for i in back_edges)
        assert (rsqrt[0] > max(back_edges)) if deferred else (rsqrt[0] < loop_start), setting


@pytest.mark.parametrize("setting", ["off", "l2"])
def test_staged_tiles_prefetch_their_first_k_tiles_before_the_pdl_wait_only_when_set(monkeypatch, setting):
    """``$VLMQ_GEMV_PREFETCH=l2``: a staged one-row tile (the pipeliner loads its first K tile only after the PDL
    wait) prefetches the 128-byte lines of its first ``stages - 1`` K tiles of each weight row into L2 ahead of the
    wait (PTX ``prefetch.global.L2`` before ``griddepcontrol.wait``); ``off`` (the default) and an unstaged tile
    prefetch nothing, and a wrong value is refused in one line that names the ones it takes."""
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels import pdl
    from vlmq.engine.kernels.gemv import W_INT8, gemv, sum_config
    from vlmq.errors import VlmqError

    monkeypatch.setattr(pdl, "pdl_capable", lambda device: True)
    monkeypatch.setenv("VLMQ_GEMV_PREFETCH", setting)
    recorder = Recorder(gemv_triton.gemv_kernel)
    monkeypatch.setattr(gemv_triton, "gemv_kernel", recorder)
    x = torch.randn(1, 1536).bfloat16()
    w8, s8 = torch.randint(-127, 128, (512, 1536), dtype=torch.int8), torch.rand(512).bfloat16()
    # the 2b int8 gate/up tile (8 rows, one warp, 2 words a lane: 256 bytes of a row a K tile) at 3 stages: two K
    # tiles ahead, 512 bytes, 4 lines; the 2b bf16 q/k/v one (4 rows, 2 warps: 1 KB a K tile) at 3: 16 lines
    gemv(x, w8, s8, config=sum_config(W_INT8, 1, 512, 1536, rows=8, warps=1, vec=2, stages=3))
    gemv(x, torch.randn(256, 1536).bfloat16(), config=sum_config(0, 1, 256, 1536, rows=4, warps=2, stages=3))
    gemv(x, w8, s8, config=sum_config(W_INT8, 1, 512, 1536, rows=8, warps=1, vec=2))  # unstaged
    lines = [kwargs["PREFETCH"] for _, kwargs in recorder.calls]
    assert lines == ([4, 16, 0] if setting == "l2" else [0, 0, 0])
    for (args, kwargs), count in zip(recorder.calls[:1] + recorder.calls[2:], lines[:1] + lines[2:]):
        ptx, _ = compile_for_h200(recorder.kernel, args, kwargs)
        prefetch, wait = ptx.find("prefetch.global.L2"), ptx.find("griddepcontrol.wait")
        assert wait >= 0 and (0 <= prefetch < wait) == (count > 0), count

    monkeypatch.setenv("VLMQ_GEMV_PREFETCH", "L1")
    with pytest.raises(VlmqError, match="VLMQ_GEMV_PREFETCH='L1': use off, or l2") as err:
        gemv(x, w8, s8, config=sum_config(W_INT8, 1, 512, 1536, rows=8, warps=1, vec=2, stages=3))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("weights, slots", [("bf16", 9), ("int4", 9), ("bf16", 372), ("int4", 372)])
def test_o_proj_over_attention_partials_compiles_for_hopper(monkeypatch, weights, slots):
    """vlmq::rope_kv_attention_o_proj's two kernels compile for sm_90 as the GPU would launch them (2b heads, batch
    1; a cache of one block, whose single split the JIT specializes as a constant, and of 372 slots, 6 splits): the
    attention with ``PARTIALS_OUT`` (no arrival counter: no atomic in its PTX) and o_proj's CUDA-core GEMV with
    ``XPART`` (the combine's exponentials in the GEMV's PTX, none without it)."""
    import vlmq.engine.kernels.attention_triton as attention_triton
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels import pack_int4, pdl
    from vlmq.engine.kernels.attention_o import launch_attention_o_proj

    monkeypatch.setattr(pdl, "pdl_capable", lambda device: True)
    attention, gemv_rec = Recorder(attention_triton.decode_attention_kernel), Recorder(gemv_triton.gemv_kernel)
    monkeypatch.setattr(attention_triton, "decode_attention_kernel", attention)
    monkeypatch.setattr(gemv_triton, "gemv_kernel", gemv_rec)
    q, k, v, cos, sin, token_type, _ = rope_inputs("bf16", b=1, t=1)
    cache = torch.zeros(2, 1, 2, slots, 128, dtype=torch.bfloat16)  # k and v: [B, KV heads, slots, D]
    kv_args = (cache[0], cache[1], None, None, [], torch.tensor([4]), token_type)
    key_valid = torch.ones(1, slots, dtype=torch.bool)
    if weights == "int4":
        w = pack_int4(torch.randint(-8, 8, (1536, 1536), dtype=torch.int8))
        lin = (w, torch.rand(1536, 12).bfloat16(), None, 128, None)
    else:
        lin = (torch.randn(1536, 1536).bfloat16(), None, None, 0, None)
    launch_attention_o_proj(q, k, v, cos, sin, *kv_args, key_valid, *lin, torch.randn(1, 1536).bfloat16())
    (attn_args, attn_kwargs), (gemv_args, gemv_kwargs) = attention.calls[0], gemv_rec.calls[0]
    assert attn_kwargs["PARTIALS_OUT"] and gemv_kwargs["XPART"] == (1 if slots <= 64 else 6) and not gemv_kwargs["DOT"]
    attn_ptx, _ = compile_for_h200(attention.kernel, attn_args, attn_kwargs)
    assert "atom." not in attn_ptx  # no arrival counter: the consumer combines
    gemv_ptx, _ = compile_for_h200(gemv_rec.kernel, gemv_args, gemv_kwargs)
    assert "ex2.approx" in gemv_ptx
    plain_ptx, _ = compile_for_h200(gemv_rec.kernel, gemv_args, {**gemv_kwargs, "XPART": 0})
    assert "ex2.approx" not in plain_ptx


def test_gemv_projection_names_a_gemv_by_its_fusions_and_the_lm_head_by_its_width():
    """gate/up by its SiLU·mul, o / down by the residual add (o square), the lm_head by a width no q/k/v reaches
    (N > 3K: q/k/v is K plus the K/V heads), q/k/v otherwise -- on both presets' shapes."""
    from vlmq.engine.kernels.pdl import gemv_projection

    for hidden, inter, qkv, vocab in ((1536, 8960, 2048, 151936), (3584, 18944, 4608, 152064)):  # 2b, 7b
        assert gemv_projection(True, False, 2 * inter, hidden) == "gate_up"
        assert gemv_projection(False, True, hidden, hidden) == "o"
        assert gemv_projection(False, True, hidden, inter) == "down"
        assert gemv_projection(False, False, qkv, hidden) == "qkv"
        assert gemv_projection(False, False, 3 * hidden, hidden) == "qkv"  # multi-head K/V at its widest
        assert gemv_projection(False, False, vocab, hidden) == "lm_head"


def test_pdl_trigger_lists_name_gemvs_by_projection_format_and_kernel(monkeypatch):
    """``$VLMQ_PDL_TRIGGER`` lists: ``projection:format[:kernel]`` entries pick those GEMVs alone, ``measured`` in a
    list adds ``MEASURED_EARLY``'s cases, and a wrong entry is refused in one line that names it and the fix."""
    from vlmq.engine.kernels import pdl
    from vlmq.errors import VlmqError

    early, late = pdl.PDL_EARLY, pdl.PDL_LATE
    monkeypatch.setenv("VLMQ_PDL_TRIGGER", "qkv:int8,qkv:fp8:dot")
    assert pdl.pdl_trigger("gemv", ("qkv", "int8", "sum")) == early
    assert pdl.pdl_trigger("gemv", ("qkv", "int8", "dot")) == early
    assert pdl.pdl_trigger("gemv", ("qkv", "fp8", "dot")) == early
    assert pdl.pdl_trigger("gemv", ("qkv", "fp8", "sum")) == late
    assert pdl.pdl_trigger("gemv", ("o", "int8", "sum")) == late
    assert pdl.pdl_trigger("gemv", ("qkv", "bf16", "dot")) == late  # MEASURED_EARLY's, not listed
    assert pdl.pdl_trigger("attention") == late
    monkeypatch.setenv("VLMQ_PDL_TRIGGER", "measured, gate_up:fp8:sum, attention")
    for case in pdl.MEASURED_EARLY:
        assert pdl.pdl_trigger("gemv", case) == early
    assert ("gate_up", "fp8", "sum") not in pdl.MEASURED_EARLY
    assert pdl.pdl_trigger("gemv", ("gate_up", "fp8", "sum")) == early
    assert pdl.pdl_trigger("gemv", ("down", "fp8", "sum")) == late
    assert pdl.pdl_trigger("attention") == early and pdl.pdl_trigger("rows") == late
    for wrong in ("qkv:int3", "lm:int8", "qkv:int8:tensor", "qkv:int8:dot:1", "measured,soon"):
        monkeypatch.setenv("VLMQ_PDL_TRIGGER", wrong)
        with pytest.raises(VlmqError, match="projection:format\\[:kernel\\]") as err:
            pdl.pdl_trigger("gemv", ("qkv", "int8", "sum"))
        assert "\n" not in str(err.value) and wrong.split(",")[-1] in str(err.value)


def test_pdl_off_launches_the_named_kernels_without_pdl_and_refuses_other_names(monkeypatch):
    """``$VLMQ_PDL_OFF`` (an A/B's arm): the kernels and GEMVs it names launch without PDL (no ``launch_pdl``, the
    ``PDL`` constexpr 0: no wait, no trigger), the rest as before; ``measured`` and unknown names are refused in one
    line naming the fix."""
    from vlmq.engine.kernels import pdl
    from vlmq.errors import VlmqError

    monkeypatch.setattr(pdl, "pdl_capable", lambda device: True)  # launch keywords as on a Hopper GPU
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv("VLMQ_PDL_TRIGGER", raising=False)
    cuda = torch.device("cuda")
    int8_gate_up, int4_gate_up = ("gate_up", "int8", "sum"), ("gate_up", "int4", "sum")
    on = {"PDL": pdl.PDL_LATE, "launch_pdl": True}
    for nothing in ("", "none"):
        monkeypatch.setenv("VLMQ_PDL_OFF", nothing)
        assert pdl.launch_pdl(cuda, None, "gemv", int8_gate_up) == on
    monkeypatch.setenv("VLMQ_PDL_OFF", "gate_up:int8, attention")
    assert pdl.launch_pdl(cuda, None, "gemv", int8_gate_up) == {"PDL": 0}
    assert pdl.launch_pdl(cuda, None, "gemv", int4_gate_up) == on
    assert pdl.launch_pdl(cuda, None, "attention") == {"PDL": 0}
    assert pdl.launch_pdl(cuda, None, "rows") == on
    monkeypatch.setenv("VLMQ_PDL_OFF", "down")
    assert pdl.pdl_off("gemv", ("down", "bf16", "dot")) and not pdl.pdl_off("gemv", int8_gate_up)
    for wrong in ("measured", "gate_up:int3", "down,later"):
        monkeypatch.setenv("VLMQ_PDL_OFF", wrong)
        with pytest.raises(VlmqError, match="none \\(or unset\\) for PDL everywhere") as err:
            pdl.launch_pdl(cuda, None, "gemv", int8_gate_up)
        assert "\n" not in str(err.value) and wrong.split(",")[-1] in str(err.value)


def test_unmasked_loads_drop_the_zero_fills_and_are_refused_by_name_when_unknown(monkeypatch):
    """``$VLMQ_GEMV_UNMASKED=1``: a whole one-row CUDA-core tile (the 2b int4 gate/up's shipped shape, 8 rows, one
    warp, two words a lane) loads its activations and its group scales and zero points without masks -- its K loop
    issues fewer instructions, the loads no longer preceded by their zero fills (PRMT) -- while a tile whose last K
    tile is ragged is compiled as before; a wrong value is refused in one line that names the two it takes."""
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels import pack_int4
    from vlmq.engine.kernels.gemv import W_INT4, gemv, sum_config
    from vlmq.errors import VlmqError

    x = torch.randn(1, 1536).bfloat16()
    w4 = pack_int4(torch.randint(-8, 8, (512, 1536), dtype=torch.int8))
    s4, z4 = torch.rand(512, 12).bfloat16(), torch.randint(-8, 8, (512, 12), dtype=torch.int8)
    recorder = Recorder(gemv_triton.gemv_kernel)
    monkeypatch.setattr(gemv_triton, "gemv_kernel", recorder)
    loops = {}
    for setting in ("0", "1"):
        monkeypatch.setenv("VLMQ_GEMV_UNMASKED", setting)
        gemv(x, w4, s4, z4, 128, config=sum_config(W_INT4, 1, 512, 1536, rows=8, warps=1, vec=2))
        assert recorder.calls[-1][1]["UNMASKED"] == (setting == "1")
        _, sass = compile_for_h200(recorder.kernel, *recorder.calls[-1])
        loops[setting] = loop_body(sass)  # the K loop's opcodes
    sizes = {setting: sum(body.values()) for setting, body in loops.items()}
    assert sizes["1"] < sizes["0"] and loops["1"]["PRMT"] < loops["0"]["PRMT"], loops
    ragged = {}  # K = 1664: its last 512-column K tile is partly past the row
    xr, wr = torch.randn(1, 1664).bfloat16(), pack_int4(torch.randint(-8, 8, (512, 1664), dtype=torch.int8))
    sr, zr = torch.rand(512, 13).bfloat16(), torch.randint(-8, 8, (512, 13), dtype=torch.int8)
    for setting in ("0", "1"):
        monkeypatch.setenv("VLMQ_GEMV_UNMASKED", setting)
        gemv(xr, wr, sr, zr, 128, config=sum_config(W_INT4, 1, 512, 1664, rows=8, warps=1, vec=2))
        ragged[setting] = loop_body(compile_for_h200(recorder.kernel, *recorder.calls[-1])[1])
    assert ragged["0"] == ragged["1"]
    monkeypatch.setenv("VLMQ_GEMV_UNMASKED", "yes")
    with pytest.raises(VlmqError, match="VLMQ_GEMV_UNMASKED='yes': use measured .*, 0 .* or 1") as err:
        gemv(x, w4, s4, z4, 128, config=sum_config(W_INT4, 1, 512, 1536, rows=8, warps=1, vec=2))
    assert "\n" not in str(err.value)
