"""The fused-projection op's CPU semantics (no Triton needed): its reference is the model's unfused modules,
its packing helpers are lossless, its fake implementation matches, and the launch shapes the decode
kernels get obey their rules."""

import pytest
import torch

from vlmq.engine.kernels import (
    PackedLinear,
    concat_packs,
    fused_linear,
    interleave_rows,
    pack_gate_up,
    pack_int4,
    quantize_activation,
    rms_norm_reference,
    run_packed,
    w4a16_linear_reference,
    w8_linear_reference,
)
from vlmq.engine.kernels.gemv import (
    GEMV_MAX_M,
    INT8_TENSOR_CORE_MIN_K,
    SUM_MAX_M,
    W_FLOAT,
    W_FP8,
    W_INT4,
    W_INT8,
    default_config,
    dot_config,
    measured_tiles,
    sum_config,
)

QWEN2 = {"2b": dict(hidden=1536, inter=8960, q=1536, kv=256), "7b": dict(hidden=3584, inter=18944, q=3584, kv=512)}


def test_rms_norm_reference_is_qwen2_rmsnorm():
    from transformers.models.qwen2.modeling_qwen2 import Qwen2RMSNorm

    torch.manual_seed(0)
    module = Qwen2RMSNorm(64, eps=1e-6).to(torch.bfloat16)
    module.weight.data = torch.rand(64, dtype=torch.bfloat16) + 0.5
    x = torch.randn(5, 64, dtype=torch.bfloat16) * 3
    assert torch.equal(rms_norm_reference(x, module.weight, 1e-6), module(x))


def _bf16_linears(n_out, k, count, bias=True):
    torch.manual_seed(1)
    return [torch.nn.Linear(k, n_out, bias=bias).to(torch.bfloat16) for _ in range(count)]


def test_fused_gate_up_with_norm_equals_the_unfused_modules():
    """RMSNorm → gate, up → silu(gate) * up, with gate/up rows interleaved in one pack (CPU runs the
    reference, the arithmetic the kernels are held to)."""
    from transformers.models.qwen2.modeling_qwen2 import Qwen2RMSNorm

    gate, up = _bf16_linears(24, 32, 2, bias=False)
    norm = Qwen2RMSNorm(32).to(torch.bfloat16)
    norm.weight.data = torch.rand(32, dtype=torch.bfloat16) + 0.5
    x = torch.randn(3, 32, dtype=torch.bfloat16)
    packs = [PackedLinear(m.weight.data, None, None, 0, None, "bf16") for m in (gate, up)]
    got = run_packed(pack_gate_up(*packs), x, norm_weight=norm.weight, eps=norm.variance_epsilon, act="silu_mul")
    h = norm(x)
    assert torch.equal(got, torch.nn.functional.silu(gate(h)) * up(h))


def test_fused_qkv_and_residual_equal_separate_linears():
    q, k, v = _bf16_linears(16, 32, 3)
    x, resid = torch.randn(2, 32, dtype=torch.bfloat16), torch.randn(2, 48, dtype=torch.bfloat16)
    pack = concat_packs([PackedLinear(m.weight.data, None, None, 0, m.bias.data, "bf16") for m in (q, k, v)])
    got = run_packed(pack, x, residual=resid)
    assert torch.equal(got, resid + torch.cat([q(x), k(x), v(x)], dim=-1))


def test_fused_w8a8_quantizes_after_the_norm():
    """A float input to an int8 W8A8 pack is normalized, then quantized per token as torchao does."""
    torch.manual_seed(2)
    w, ws = torch.randint(-127, 128, (16, 32), dtype=torch.int8), torch.rand(16) * 0.01
    g, x = torch.rand(32, dtype=torch.bfloat16) + 0.5, torch.randn(3, 32, dtype=torch.bfloat16)
    got = fused_linear(x, w, ws, None, 0, None, None, "int8", g, 1e-6, None, "none", None, torch.bfloat16)
    xq, xs = quantize_activation(rms_norm_reference(x, g, 1e-6), "int8")
    assert torch.equal(got, w8_linear_reference(xq, w, ws, xs, None, torch.bfloat16))


def test_fused_int4_gate_up_interleaves_group_metadata():
    torch.manual_seed(3)
    g = 32
    gate, up = (pack_int4(torch.randint(-8, 8, (8, 64), dtype=torch.int8)) for _ in range(2))
    sg, su = torch.rand(8, 2, dtype=torch.bfloat16), torch.rand(8, 2, dtype=torch.bfloat16)
    zg, zu = (torch.randint(-8, 8, (8, 2), dtype=torch.int8) for _ in range(2))
    pack = pack_gate_up(PackedLinear(gate, sg, zg, g, None, "bf16"), PackedLinear(up, su, zu, g, None, "bf16"))
    x = torch.randn(2, 64, dtype=torch.bfloat16)
    got = run_packed(pack, x, act="silu_mul")
    lin = lambda w, s, z: w4a16_linear_reference(x, w, s, z, g, None, torch.bfloat16)  # noqa: E731
    assert torch.equal(got, torch.nn.functional.silu(lin(gate, sg, zg)) * lin(up, su, zu))


def test_interleave_rows_is_a_lossless_permutation():
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    both = interleave_rows(a, b)
    assert torch.equal(both[0::2], a) and torch.equal(both[1::2], b)
    assert torch.equal(interleave_rows(torch.arange(3), torch.arange(3, 6)), torch.tensor([0, 3, 1, 4, 2, 5]))


@pytest.mark.parametrize("act, resid", [("none", False), ("silu_mul", True)])
def test_fake_implementation_matches(act, resid):
    """opcheck: schema, fake tensor (used by torch.compile and CUDA-graph capture) and the real op agree."""
    w = torch.randn(16, 32, dtype=torch.bfloat16)
    x = torch.randn(3, 32, dtype=torch.bfloat16)
    r = torch.randn(3, 8 if act == "silu_mul" else 16, dtype=torch.bfloat16) if resid else None
    torch.library.opcheck(
        fused_linear,
        (
            x,
            w,
            None,
            None,
            0,
            None,
            None,
            "bf16",
            torch.ones(32, dtype=torch.bfloat16),
            1e-6,
            None,
            act,
            r,
            torch.bfloat16,
        ),
    )


@pytest.mark.parametrize("preset", sorted(QWEN2))
@pytest.mark.parametrize("fmt", [W_FLOAT, W_INT8, W_FP8, W_INT4])
def test_decode_launch_shapes_follow_the_rules(preset, fmt):
    """Every decoder shape at decode gets a tile whose K step fits the kernel (int4: inside one group for
    the tensor-core kernel), at most 16 K slices, and enough programs for 132 SMs where K allows. One row on the
    CUDA-core kernel; 2-4 rows too, except FP8 weights and int8 weights with a long K (tensor cores measured
    faster), unless the shape has a tile measured on the H200 (``measured_tiles``)."""
    d = QWEN2[preset]
    shapes = {
        "qkv": (d["q"] + 2 * d["kv"], d["hidden"]),
        "o": (d["hidden"], d["q"]),
        "gate_up": (2 * d["inter"], d["hidden"]),
        "down": (d["hidden"], d["inter"]),
    }
    for n, k in shapes.values():
        for m in (1, SUM_MAX_M, SUM_MAX_M + 1, 16, GEMV_MAX_M):
            cfg = default_config(fmt, m, n, k, 128)
            tensor_cores = m > 1 and (fmt == W_FP8 or (fmt == W_INT8 and k >= INT8_TENSOR_CORE_MIN_K))
            sum_m1, dot_m16, dot_m1 = measured_tiles()
            tuned = sum_m1.get((fmt, n, k)) if m == 1 else None
            measured = {1: dot_m1, 16: dot_m16}.get(m, {}).get((fmt, n, k))
            on_cuda_cores = (tuned or (m <= SUM_MAX_M and not tensor_cores)) and not measured
            assert cfg.kernel == ("sum" if on_cuda_cores else "dot")
            if tuned and on_cuda_cores:
                got = (cfg.block_n, cfg.num_warps, cfg.vec, cfg.split_k, cfg.pipe, cfg.num_stages, cfg.maxnreg)
                assert got == tuned
            if measured:  # a measured tile need not follow the program-count rule below
                assert (
                    cfg.block_n,
                    cfg.block_k,
                    cfg.split_k,
                    cfg.num_stages,
                    cfg.swap,
                    cfg.post,
                    cfg.num_warps,
                    cfg.frag,
                ) == measured
            assert 1 <= cfg.split_k <= 16 and cfg.block_m >= m
            if cfg.kernel == "sum":
                per_lane = {W_INT4: 8 * cfg.vec, W_INT8: 4 * cfg.vec}.get(fmt, 8)
                assert cfg.block_k == per_lane * 32 * cfg.num_warps
            elif fmt == W_INT4:
                assert 128 % cfg.block_k == 0
            programs = -(-n // cfg.block_n) * cfg.split_k
            assert measured or programs >= 132 or cfg.split_k == 16 or k // (2 * cfg.block_k) <= cfg.split_k


def test_fragment_order_int4_tiles_come_from_the_table_and_refuse_tiles_they_do_not_fit(monkeypatch):
    """A measured tile with ``frag`` serves as such; fragment order needs whole MMA row groups per warp (16 rows for
    wgmma, 8 for mma.sync) in block_n: other tiles get a one-line error naming the fix; other formats ignore it."""
    import vlmq.engine.kernels.gemv as gemv_mod
    from vlmq.errors import VlmqError

    tile = (64, 64, 4, 3, True, True, 4, True)
    monkeypatch.setattr(gemv_mod, "measured_tiles", lambda: ({}, {(W_INT4, 17920, 1536): tile}, {}))
    cfg = default_config(W_INT4, 16, 17920, 1536, 128)
    assert (cfg.block_n, cfg.block_k, cfg.swap, cfg.post, cfg.frag) == (64, 64, True, True, True)
    assert not default_config(W_INT4, 16, 3584, 3584, 128).frag
    assert dot_config(W_INT4, 16, 1024, 1536, 128, block_n=32, frag=True).frag  # mma.sync: 8 rows x 4 warps
    assert not dot_config(W_INT8, 16, 1024, 1536, block_n=32, swap=True, frag=True).frag
    for block_n, warps, swap in ((32, 4, True), (64, 8, True), (16, 4, False)):
        with pytest.raises(VlmqError, match="frag=False") as err:
            dot_config(W_INT4, 16, 1024, 1536, 128, block_n=block_n, warps=warps, swap=swap, frag=True)
        assert "\n" not in str(err.value)


def test_gemm_tile_rows_are_chosen_or_given_and_a_bad_count_is_refused_in_one_line():
    """Prefill tiles take 128 activation rows unless a measured tile says 64 (with K slices where it says so); a
    row count no tensor-core tile has is refused with a one-line error that names the fix."""
    from vlmq.errors import VlmqError

    assert dot_config(W_INT8, 300, 1536, 8960).block_m == 128
    cfg = dot_config(W_INT8, 300, 1536, 8960, block_m=64, split=2)
    assert (cfg.block_m, cfg.block_n, cfg.split_k) == (64, 64, 2)
    with pytest.raises(VlmqError, match="block_m 16, 32, 64 or 128") as err:
        dot_config(W_INT8, 300, 1536, 8960, block_m=48)
    assert "\n" not in str(err.value)


def test_one_row_tensor_core_tiles_give_way_where_the_cuda_cores_fuse_the_prologue():
    """A swapped tensor-core tile measured faster at one row (``dot_m1``) serves the plain op; with an RMSNorm to
    apply, the CUDA-core tile, which fuses it, serves (the tensor-core one would need normalize_rows first); W8A8
    rows on a large grid need the row kernel on either, so the faster tensor-core tile stays."""
    from vlmq.engine.kernels.gemv import A_FLOAT, A_FP8, gemv_config, row_kernel_first

    _, _, dot_m1 = measured_tiles()
    assert dot_m1, "no tensor-core tile at one row in the shipped table: update the test"
    for fmt, n, k in dot_m1:
        assert default_config(fmt, 1, n, k, 128).kernel == "dot"
        assert gemv_config(fmt, 1, n, k, 128, A_FLOAT, False, False, False).kernel == "dot"  # nothing to fuse
        assert gemv_config(fmt, 1, n, k, 128, A_FLOAT, False, True, True).kernel == "dot"  # rows given
        fused = gemv_config(fmt, 1, n, k, 128, A_FLOAT, False, True, False)
        assert fused.kernel == "sum" and not row_kernel_first(fused, fmt, A_FLOAT, False, True, n, k)
    assert (W_FP8, 17920, 1536) in dot_m1  # 2b gate_up, fp8 W8A8: a row kernel either way
    assert gemv_config(W_FP8, 1, 17920, 1536, 128, A_FP8, False, True, False).kernel == "dot"


def test_w8a8_rows_quantize_in_the_prologue_only_for_small_grids():
    """The CUDA-core GEMV quantizes W8A8 rows itself where its programs x K stay small (2b q/k/v and o_proj at one
    row), else normalize_rows runs first (gate_up, down, every 7b shape; the tensor-core kernel always)."""
    from vlmq.engine.kernels.gemv import A_FLOAT, A_INT8, row_kernel_first

    def first(n, k, a_mode=A_INT8, smooth=False, norm=True, m=1):
        return row_kernel_first(default_config(W_INT8, m, n, k), W_INT8, a_mode, smooth, norm, n, k)

    d2, d7 = QWEN2["2b"], QWEN2["7b"]
    assert not first(d2["q"] + 2 * d2["kv"], d2["hidden"])  # 2b qkv
    assert not first(d2["hidden"], d2["q"], norm=False)  # 2b o_proj
    assert first(2 * d2["inter"], d2["hidden"])  # 2b gate_up
    assert first(d2["hidden"], d2["inter"], norm=False)  # 2b down
    assert first(d7["q"] + 2 * d7["kv"], d7["hidden"])  # 7b qkv
    assert first(2 * d2["inter"], d2["hidden"], a_mode=A_FLOAT, smooth=True)  # smoothing is row work
    assert first(d2["q"] + 2 * d2["kv"], d2["hidden"], m=16)  # tensor cores


def test_rmsnorm_alone_runs_first_only_before_low_bit_weights_at_long_rows_or_int4_gate_up():
    """A plain RMSNorm stays in the CUDA-core prologue, except before int8 / int4 weights at K > 2048 (the 7b's
    3584, where each program's two passes over the row before its first weight measured slower than
    normalize_rows first) and before int4 gate/up at any K (the 2b's, measured faster in whole steps); norm_first
    forces either way, a W8A8 row's norm too, and moves no row without a norm."""
    from vlmq.engine.kernels.gemv import A_FLOAT, A_INT8, NORM_FIRST_MIN_K, row_kernel_first

    d2, d7 = QWEN2["2b"], QWEN2["7b"]
    assert d2["hidden"] <= NORM_FIRST_MIN_K < d7["hidden"]

    def first(fmt, n, k, **kw):
        return row_kernel_first(sum_config(fmt, 1, n, k), fmt, A_FLOAT, False, True, n, k, **kw)

    for fmt in (W_INT8, W_INT4):
        assert first(fmt, 2 * d7["inter"], d7["hidden"])  # 7b gate_up
        assert first(fmt, d7["q"] + 2 * d7["kv"], d7["hidden"])  # 7b qkv
        assert not first(fmt, 2 * d2["inter"], d2["hidden"])  # 2b gate_up, its projection not said
        assert not first(fmt, d2["q"] + 2 * d2["kv"], d2["hidden"], projection="qkv")  # 2b qkv
        assert not first(fmt, d7["hidden"], d7["hidden"], norm_first=False)
    assert first(W_INT4, 2 * d2["inter"], d2["hidden"], projection="gate_up")  # 2b int4 gate_up: NORM_FIRST_ALWAYS
    assert not first(W_INT4, 2 * d2["inter"], d2["hidden"], projection="gate_up", norm_first=False)
    assert not first(W_INT8, 2 * d2["inter"], d2["hidden"], projection="gate_up")  # int8's: 1.006x, left
    assert not first(W_FLOAT, 2 * d7["inter"], d7["hidden"])  # bf16: no gain measured
    assert first(W_FLOAT, 2 * d2["inter"], d2["hidden"], norm_first=True)
    cuda_cores = sum_config(W_INT8, 1, 2 * d7["inter"], d7["hidden"])
    w8a8 = (cuda_cores, W_INT8, A_INT8, True, True, 2 * d7["inter"], d7["hidden"])  # SmoothQuant's gate/up rows
    assert row_kernel_first(*w8a8)  # the rule: too many programs to quantize the row in each
    assert not row_kernel_first(*w8a8, norm_first=False)  # an A/B forces a W8A8 row's norm too
    small = sum_config(W_INT8, 1, d2["q"] + 2 * d2["kv"], d2["hidden"])  # 2b q/k/v: the rule's prologue
    assert not row_kernel_first(small, W_INT8, A_INT8, True, True, d2["q"] + 2 * d2["kv"], d2["hidden"])
    assert row_kernel_first(small, W_INT8, A_INT8, True, True, d2["q"] + 2 * d2["kv"], d2["hidden"], norm_first=True)
    # a W8A8 row without a norm (o_proj's) is not the setting's: the rule decides
    assert row_kernel_first(cuda_cores, W_INT8, A_INT8, True, False, *w8a8[5:], norm_first=False)
    # no norm: nothing to move
    assert not row_kernel_first(cuda_cores, W_INT4, A_FLOAT, False, False, 2 * d7["inter"], d7["hidden"])


def test_norm_first_setting_names_projections_and_refuses_others(monkeypatch):
    """``$VLMQ_NORM_FIRST`` (an A/B's): unset or ``measured`` leaves the rule, ``none`` keeps every RMSNorm in the
    prologue, names move those projections' norms first and no other; a wrong name is one line naming the fix."""
    from vlmq.engine.kernels.gemv import NORM_FIRST_ENV, norm_first_setting
    from vlmq.errors import VlmqError

    monkeypatch.delenv(NORM_FIRST_ENV, raising=False)
    assert norm_first_setting("qkv") is None
    monkeypatch.setenv(NORM_FIRST_ENV, "measured")
    assert norm_first_setting("gate_up") is None
    monkeypatch.setenv(NORM_FIRST_ENV, "none")
    assert norm_first_setting("qkv") is False and norm_first_setting("gate_up") is False
    monkeypatch.setenv(NORM_FIRST_ENV, "gate_up")
    assert norm_first_setting("gate_up") is True and norm_first_setting("qkv") is False
    monkeypatch.setenv(NORM_FIRST_ENV, "qkv, gate_up")
    assert norm_first_setting("qkv") is True and norm_first_setting("gate_up") is True
    monkeypatch.setenv(NORM_FIRST_ENV, "qkv,down")
    with pytest.raises(VlmqError, match="from qkv, gate_up") as err:
        norm_first_setting("qkv")
    assert "\n" not in str(err.value)


def test_norm_defer_setting_names_projections_and_refuses_others(monkeypatch):
    """``$VLMQ_NORM_DEFER`` (an A/B's): unset, empty or ``measured`` leaves it to the measured rule (None); ``none``
    defers no RMSNorm; names defer those projections' (the lm_head's too) and no other; a wrong name is one line
    naming the fix and the bad name."""
    from vlmq.engine.kernels.gemv import NORM_DEFER_ENV, norm_defer_setting
    from vlmq.errors import VlmqError

    monkeypatch.delenv(NORM_DEFER_ENV, raising=False)
    assert norm_defer_setting("qkv") is None and norm_defer_setting("lm_head") is None
    for measured in ("", "measured"):
        monkeypatch.setenv(NORM_DEFER_ENV, measured)
        assert norm_defer_setting("gate_up") is None
    monkeypatch.setenv(NORM_DEFER_ENV, "none")
    assert norm_defer_setting("gate_up") is False and norm_defer_setting("lm_head") is False
    monkeypatch.setenv(NORM_DEFER_ENV, "gate_up, lm_head")
    assert norm_defer_setting("gate_up") and norm_defer_setting("lm_head") and norm_defer_setting("qkv") is False
    monkeypatch.setenv(NORM_DEFER_ENV, "qkv,o")
    with pytest.raises(VlmqError, match="use measured, none or .* from qkv, gate_up, lm_head \\(not o\\)") as err:
        norm_defer_setting("qkv")
    assert "\n" not in str(err.value)


def test_the_measured_rule_defers_the_rmsnorm_where_the_step_measured_faster():
    """``norm_defer_measured``: the (projection, weight format) pairs of ``NORM_DEFER_MEASURED`` at their side of
    ``NORM_FIRST_MIN_K`` and no others -- the 2b's (K 1536) bf16 q/k/v but not its gate/up, int8 gate/up but not its
    q/k/v; never the projections without an RMSNorm."""
    from vlmq.engine.kernels.gemv import NORM_DEFER_MEASURED, NORM_FIRST_MIN_K, norm_defer_measured

    small, large = NORM_FIRST_MIN_K // 2 + 512, NORM_FIRST_MIN_K + 1536
    assert norm_defer_measured("qkv", W_FLOAT, small) and not norm_defer_measured("gate_up", W_FLOAT, small)
    assert norm_defer_measured("gate_up", W_INT8, small) and not norm_defer_measured("qkv", W_INT8, small)
    for projection in ("o", "down"):
        assert not any(
            norm_defer_measured(projection, fmt, k) for fmt in (W_FLOAT, W_INT8, W_INT4) for k in (small, large)
        )
    names = {"bf16": W_FLOAT, "int8": W_INT8, "int4": W_INT4}
    for projection, name, above in NORM_DEFER_MEASURED:
        assert norm_defer_measured(projection, names[name], large if above else small)
        assert norm_defer_measured(projection, names[name], small if above else large) == (
            (projection, name, not above) in NORM_DEFER_MEASURED
        )


@pytest.mark.parametrize(
    "setting, fmt, act, expected",
    [
        ("gate_up", W_INT8, "silu", True),
        ("gate_up", W_INT4, "none", False),  # q/k/v: not named
        ("none", W_INT4, "silu", False),
        ("measured", W_INT8, "silu", None),
        ("gate_up", W_FLOAT, "silu", None),  # BF16 weights (the lm_head's too): the setting does not apply
        ("qkv", W_FP8, "none", True),  # FP8 weights: the W8A8 rows' norm (the fp8 recipe's q/k/v)
    ],
)
def test_gemv_hands_the_norm_first_setting_to_its_row_rule(monkeypatch, setting, fmt, act, expected):
    """What ``gemv`` asks ``row_kernel_first`` for a plain RMSNorm under ``$VLMQ_NORM_FIRST`` with no RMSNorm deferred
    (stopped there: no kernel runs on the CPU)."""
    from vlmq.engine.kernels import gemv as gemv_module

    seen = []

    def stop(cfg, fmt, a_mode, smooth, norm, n, k, norm_first=None, projection=None):
        seen.append((norm_first, projection))
        raise KeyboardInterrupt

    monkeypatch.setenv(gemv_module.NORM_FIRST_ENV, setting)
    monkeypatch.setenv(gemv_module.NORM_DEFER_ENV, "none")  # a deferred norm overrides the rule (tested apart)
    monkeypatch.setattr(gemv_module, "row_kernel_first", stop)
    n, k = 64, 256
    x = torch.randn(1, k, dtype=torch.bfloat16)
    norm = torch.ones(k, dtype=torch.bfloat16)
    silu = act == "silu"
    if fmt == W_FLOAT:
        args = (torch.randn(n, k, dtype=torch.bfloat16),)
    elif fmt == W_INT8:
        args = (torch.randint(-127, 127, (n, k), dtype=torch.int8), torch.rand(n, dtype=torch.bfloat16))
    elif fmt == W_FP8:
        args = (torch.randn(n, k).to(torch.float8_e4m3fn), torch.rand(n, dtype=torch.float32))
    else:
        args = (
            torch.randint(0, 2**31 - 1, (n, k // 8), dtype=torch.int32),
            torch.rand(n, k // 128, dtype=torch.bfloat16),
            None,
            128,
        )
    with pytest.raises(KeyboardInterrupt):
        gemv_module.gemv(x, *args, norm_weight=norm, act=gemv_module.ACT_SILU_MUL if silu else gemv_module.ACT_NONE)
    assert seen == [(expected, "gate_up" if silu else "qkv")]  # the projection, for the rule's own cases


def test_split_k_only_where_rows_alone_do_not_fill_the_gpu():
    assert sum_config(W_INT8, 1, 37888, 3584).split_k == 1  # 7b gate_up: 2368 row programs
    assert sum_config(W_INT8, 1, 1536, 8960).split_k > 1  # 2b down: 96 row programs
    assert dot_config(W_INT8, 16, 1536, 8960).split_k > 1
    assert dot_config(W_INT8, 300, 1536, 8960).split_k == 1  # prefill tiles: no split


def test_cpu_ops_use_the_references():
    torch.manual_seed(4)
    x = torch.randn(2, 64, dtype=torch.bfloat16)
    w = pack_int4(torch.randint(-8, 8, (8, 64), dtype=torch.int8))
    s, z = torch.rand(8, 1, dtype=torch.bfloat16), torch.randint(-8, 8, (8, 1), dtype=torch.int8)
    from vlmq.engine.kernels import w4a16_linear

    assert torch.equal(
        w4a16_linear(x, w, s, z, 64, None, torch.bfloat16), w4a16_linear_reference(x, w, s, z, 64, None, torch.bfloat16)
    )


@pytest.mark.parametrize(
    "case, match",
    [
        ("k", "in_features"),
        ("group", "group_size"),
        ("scale", "one fp32 scale per output row"),
        ("w8a8-int4", "W8A8 activations need"),
        ("mixed", "same kind"),
        ("odd", "even N"),
        ("resid", "residual"),
        ("normed-codes", "cannot be normalized"),
        ("row-max-dtype", "row_max_out must be a 1-D fp32 tensor"),
        ("row-max-short", "x_row_max must be a 1-D fp32 tensor of at least 2"),
        ("row-max-clear", "row_max_clear must be a contiguous fp32 tensor of 64"),
        ("row-max-alone", "go with row_max_out"),
        ("row-max-float", "x_row_max quantizes float W8A8 rows"),
        ("row-max-codes", "rows already quantized carry x_scale"),
    ],
)
def test_bad_gemv_inputs_get_one_line_errors(case, match):
    """Checked before Triton is needed: a one-line VlmqError that names the fix."""
    from vlmq.engine.kernels.gemv import A_INT8, ACT_SILU_MUL, gemv
    from vlmq.errors import VlmqError

    x = torch.randn(2, 64, dtype=torch.bfloat16)
    w8, s8 = torch.randint(-127, 128, (16, 64), dtype=torch.int8), torch.rand(16)
    w4, s4 = pack_int4(torch.randint(-8, 8, (16, 64), dtype=torch.int8)), torch.rand(16, 2, dtype=torch.bfloat16)
    calls = {
        "k": lambda: gemv(torch.randn(2, 48), w8, s8),
        "group": lambda: gemv(x, w4, s4, None, 16),
        "scale": lambda: gemv(x, w8, s8[:4]),
        "w8a8-int4": lambda: gemv(x, w4, s4, None, 32, a_mode=A_INT8),
        "mixed": lambda: gemv(quantize_activation(x, "fp8")[0], w8, s8, x_scale=torch.ones(2)),
        "odd": lambda: gemv(x, torch.randn(15, 64), act=ACT_SILU_MUL),
        "resid": lambda: gemv(x, w8, s8, residual=torch.randn(2, 8)),
        "normed-codes": lambda: gemv(
            *quantize_activation(x, "int8")[:1], w8, s8, x_scale=torch.ones(2), norm_weight=torch.ones(64)
        ),
        "row-max-dtype": lambda: gemv(x, w8, s8, a_mode=A_INT8, row_max_out=torch.zeros(64, dtype=torch.bfloat16)),
        "row-max-short": lambda: gemv(x, w8, s8, a_mode=A_INT8, x_row_max=torch.zeros(1)),
        "row-max-clear": lambda: gemv(x, w8, s8, row_max_out=torch.zeros(64), row_max_clear=torch.zeros(32)),
        "row-max-alone": lambda: gemv(x, w8, s8, row_max_clear=torch.zeros(64)),
        "row-max-float": lambda: gemv(x, w8, s8, x_row_max=torch.zeros(64)),
        "row-max-codes": lambda: gemv(
            *quantize_activation(x, "int8")[:1], w8, s8, x_scale=torch.ones(2), x_row_max=torch.zeros(64)
        ),
    }
    with pytest.raises(VlmqError, match=match) as err:
        calls[case]()
    assert "\n" not in str(err.value)


def test_rows_in_fragment_order_are_refused_where_the_tile_would_permute_or_transform_them():
    """``gemv(x_frag=True)`` (rows stored in a swapped fragment-order int4 tile's K order: a measurement of the
    tile's permute) is refused in one line on any other tile, and with a norm (per column: it would meet the wrong
    columns) -- before anything launches."""
    from vlmq.engine.kernels import pack_int4
    from vlmq.engine.kernels.gemv import dot_config, frag_activations, gemv
    from vlmq.errors import VlmqError

    n, k = 64, 256
    x = torch.randn(16, k, dtype=torch.bfloat16)
    w = pack_int4(torch.randint(-8, 8, (n, k), dtype=torch.int8))
    scale, zero = torch.rand(n, k // 128, dtype=torch.bfloat16), torch.randint(-8, 8, (n, k // 128), dtype=torch.int8)
    frag = dot_config(W_INT4, 16, n, k, 128, swap=True, frag=True)
    for cfg, extra, fix in (
        (dot_config(W_INT4, 16, n, k, 128, swap=True), {}, "pass such a config"),
        (dot_config(W_INT4, 16, n, k, 128, frag=True), {}, "pass such a config"),
        (frag, {"norm_weight": torch.ones(k, dtype=torch.bfloat16)}, "read as they are"),
    ):
        with pytest.raises(VlmqError, match=fix) as err:
            gemv(frag_activations(x, frag), w, scale, zero, 128, config=cfg, x_frag=True, **extra)
        assert "\n" not in str(err.value)
    # the permutation itself: each 128-column tile's column 8 U c + 8 u + 4 e + 2 a + b lands at 32 u + 16 a + 8 b
    # + 2 c + e (U = 4); within its own tile
    cols = frag_activations(torch.arange(k, dtype=torch.float32).expand(1, k), frag)[0].long()
    c, u, e, a, b = 1, 2, 1, 0, 1
    assert cols[128 + 32 * u + 16 * a + 8 * b + 2 * c + e] == 128 + 32 * c + 8 * u + 4 * e + 2 * a + b
    assert sorted(cols[:128].tolist()) == list(range(128))


def test_unmasked_loads_are_measured_on_for_int4_alone_and_forced_by_the_setting(monkeypatch):
    """``$VLMQ_GEMV_UNMASKED`` unset or ``measured``: whole one-row tiles over int4 weights load without masks (the
    H200's 2b int4 steps 0.974-0.978x), int8 and BF16 ones masked (1.005-1.007x, 0.996x); 0 / 1 force every format;
    anything else is refused in one line naming the three values."""
    from vlmq.engine.kernels.gemv import UNMASKED_ENV, unmasked_loads
    from vlmq.errors import VlmqError

    formats = (W_FLOAT, W_INT8, W_FP8, W_INT4)
    monkeypatch.delenv(UNMASKED_ENV, raising=False)
    assert [unmasked_loads(f) for f in formats] == [False, False, False, True]
    for value, want in (("measured", [False, False, False, True]), ("0", [False] * 4), ("1", [True] * 4)):
        monkeypatch.setenv(UNMASKED_ENV, value)
        assert [unmasked_loads(f) for f in formats] == want, value
    monkeypatch.setenv(UNMASKED_ENV, "on")
    with pytest.raises(VlmqError, match="VLMQ_GEMV_UNMASKED='on': use measured .*, 0 .* or 1") as err:
        unmasked_loads(W_INT4)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("a_mode_name", ["int8", "fp8"])
def test_forwarded_maxima_feed_cuda_core_tiles_by_the_rule_and_tensor_core_ones_only_when_asked(a_mode_name):
    """The measured rule (``uses_forwarded_maxima``): a one-row W8A8 CUDA-core tile that quantizes its rows in its
    prologue takes maxima gathered before its norm, a one-row tensor-core tile does not (the H200's 2b fp8 gate/up
    10.0 -> 14.4 us a layer with them) though it could defer its norm; ``norm_first`` False (the norm kept out of
    ``normalize_rows``) gives them to either, True to neither."""
    from vlmq.engine.kernels.gemv import (
        A_FP8,
        A_INT8,
        norm_deferrable,
        row_kernel_first,
        takes_forwarded_maxima,
        uses_forwarded_maxima,
    )

    a_mode = {"int8": A_INT8, "fp8": A_FP8}[a_mode_name]
    fmt = {"int8": W_INT8, "fp8": W_FP8}[a_mode_name]
    n, k = 2048, 1536  # the 2b q/k/v
    cuda_core = sum_config(fmt, 1, n, k)._replace(split_k=1)  # one K slice: the whole row in each program
    tensor_core = dot_config(fmt, 1, n, k)._replace(split_k=1)
    assert not row_kernel_first(cuda_core, fmt, a_mode, False, True, n, k, None, "qkv")  # quantized in the prologue
    assert norm_deferrable(tensor_core, k, a_mode, False, False, True, x_max=True, m=1)
    assert uses_forwarded_maxima(cuda_core, fmt, 1, n, k, a_mode, False, "qkv")
    assert not uses_forwarded_maxima(tensor_core, fmt, 1, n, k, a_mode, False, "qkv")
    for cfg in (cuda_core, tensor_core):
        assert takes_forwarded_maxima(cfg, fmt, 1, n, k, a_mode, False, "qkv", False)
        assert not takes_forwarded_maxima(cfg, fmt, 1, n, k, a_mode, False, "qkv", True)
        rule = takes_forwarded_maxima(cfg, fmt, 1, n, k, a_mode, False, "qkv", None)
        assert rule == uses_forwarded_maxima(cfg, fmt, 1, n, k, a_mode, False, "qkv")
    assert not takes_forwarded_maxima(tensor_core, fmt, 4, n, k, a_mode, False, "qkv", False)  # four rows: no


def test_frag_rows_setting_is_on_unless_set_off_and_refuses_other_values(monkeypatch):
    """``$VLMQ_FRAG_ROWS`` (on by default since a decode-step A/B measured it faster; 0 for the A/B's other arm): 0
    or 1, anything else one line naming both."""
    from vlmq.engine.kernels.gemv import FRAG_ROWS_ENV, frag_rows_setting
    from vlmq.errors import VlmqError

    monkeypatch.delenv(FRAG_ROWS_ENV, raising=False)
    assert frag_rows_setting() is True
    monkeypatch.setenv(FRAG_ROWS_ENV, "0")
    assert frag_rows_setting() is False
    monkeypatch.setenv(FRAG_ROWS_ENV, "1")
    assert frag_rows_setting() is True
    monkeypatch.setenv(FRAG_ROWS_ENV, "on")
    with pytest.raises(VlmqError, match="use 0 .* or 1") as err:
        frag_rows_setting()
    assert "\n" not in str(err.value)


def test_a_w8a8_tile_of_the_table_serves_w8a8_calls_and_the_weight_formats_tile_the_others(tmp_path, monkeypatch):
    """A tile table entry with ``activations`` (``bench_kernels.py --write-tiles`` writes one from an int8-a8 sweep:
    smoothquant's W8A8) is the tile of int8 calls over int8 rows, beside the weight format's entries, which int8_wo's
    float rows keep -- a weight-format tensor-core tile too, which a W8A8 sweep that kept its CUDA-core tile found
    no faster; a shape with no W8A8 entry gives W8A8 calls the weight format's tile. The launch takes it."""
    import json

    from vlmq.engine.kernels.gemv import A_INT8, TILES_ENV, TILES_FILE, default_config, gemv

    table = json.loads(TILES_FILE.read_text())
    shipped = next(t for t in table["sum_m1"] if (t["format"], t["shape"]) == ("int8", "2b o"))
    w8a8 = dict(shipped, rows=16, warps=1, vec=4, pipe=False, stages=1, maxnreg=0, activations="int8")
    assert (shipped["rows"], shipped.get("activations")) != (16, "int8")  # what the case is about
    table["sum_m1"].append(w8a8)
    with_w8a8 = tmp_path / "tiles.json"
    with_w8a8.write_text(json.dumps(table))
    monkeypatch.setenv(TILES_ENV, str(with_w8a8))
    assert default_config(W_INT8, 1, 1536, 1536, a_mode=A_INT8).block_n == 16
    assert default_config(W_INT8, 1, 1536, 1536).block_n == shipped["rows"]
    qkv = next(t for t in table["sum_m1"] if (t["format"], t["shape"]) == ("int8", "2b qkv"))
    assert default_config(W_INT8, 1, 2048, 1536, a_mode=A_INT8).block_n == qkv["rows"]  # no W8A8 entry
    dot = dict(format="int8", n=1536, k=1536, shape="2b o", block_n=64, block_k=128, split=1, stages=3, swap=True)
    table["dot_m1"] = [*table.get("dot_m1", []), dot]  # the weight format's, beating its CUDA-core tile
    with_dot = tmp_path / "tiles_dot.json"
    with_dot.write_text(json.dumps(table))
    monkeypatch.setenv(TILES_ENV, str(with_dot))
    assert default_config(W_INT8, 1, 1536, 1536).kernel == "dot"
    w8a8_tile = default_config(W_INT8, 1, 1536, 1536, a_mode=A_INT8)
    assert (w8a8_tile.kernel, w8a8_tile.block_n) == ("sum", 16)

    pytest.importorskip("triton")  # the launch: gemv's kernel module needs Triton (recorded, nothing runs)
    import vlmq.engine.kernels.gemv_triton as gemv_triton

    monkeypatch.setenv(TILES_ENV, str(with_w8a8))
    launched = []

    class Recorded:  # stands in for the kernel: records the launch, runs nothing
        def __getitem__(self, grid):
            return lambda *args, **kwargs: launched.append(kwargs["BN"])

    monkeypatch.setattr(gemv_triton, "gemv_kernel", Recorded())
    w, s = torch.randint(-127, 128, (1536, 1536), dtype=torch.int8), torch.rand(1536)
    x = torch.randn(1, 1536, dtype=torch.bfloat16)
    gemv(x, w, s, a_mode=A_INT8, residual=torch.randn(1, 1536, dtype=torch.bfloat16))
    gemv(x, w, s, residual=torch.randn(1, 1536, dtype=torch.bfloat16))
    assert launched == [16, shipped["rows"]]


def test_a_tile_table_entry_for_unknown_activations_is_refused_in_one_line(tmp_path, monkeypatch):
    """A hand-edited table whose entry names activations the table does not keep apart (only int8 W8A8 tiles are):
    one line naming the entry, the value and the fix, not a KeyError."""
    import json

    from vlmq.engine.kernels.gemv import TILES_ENV, TILES_FILE, default_config
    from vlmq.errors import VlmqError

    table = json.loads(TILES_FILE.read_text())
    table["sum_m1"][0] = dict(table["sum_m1"][0], activations="fp4")
    path = tmp_path / "tiles.json"
    path.write_text(json.dumps(table))
    monkeypatch.setenv(TILES_ENV, str(path))
    with pytest.raises(VlmqError, match="activations 'fp4' is none of int8; write the table with") as err:
        default_config(W_INT8, 1, 1536, 1536)
    assert "\n" not in str(err.value)
