"""vlmq's custom ops are each built from their pure-torch reference (the kernel every device but CUDA runs)
with a CUDA kernel registered apart: a missing registration would make CUDA run the reference silently."""

import json

import pytest
import torch

import vlmq.engine.kernels  # noqa: F401  (registers the ops)

OPS = ["fused_linear", "w8_linear", "w4a16_linear", "decode_attention", "rope_kv_decode_attention", "rope_kv_write"]


@pytest.mark.parametrize("name", OPS)
def test_every_op_has_a_cuda_kernel_a_reference_and_a_fake(name):
    qualified = f"vlmq::{name}"
    for key in ("CUDA", "CompositeExplicitAutograd", "Meta"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(qualified, key), (qualified, key)


def test_prefill_runs_a_measured_prefill_gemm_tile_and_reads_it_from_the_table(monkeypatch, tmp_path):
    """A table entry with a ``mixed`` tile (bench_prefill_gemm.py --write-tiles) reads as a ``MixedTile`` and
    takes precedence over the entry's generic tile; prefill_linear then runs ``mixed_linear`` with it and the rows'
    scales, unless K is not a multiple of the tile's K (then the scheme's default path)."""
    from vlmq.engine.kernels import gemv, prefill
    from vlmq.engine.kernels.gemv import MixedTile

    generic = {"block_n": 64, "block_k": 128, "stages": 4, "swap": False, "warps": 4, "block_m": 64, "split": 1}
    entries = [
        {
            "mode": "int8-a8",
            "n": 256,
            "k": 512,
            "m": 300,
            "tile": generic,
            "mixed": {"tile": [64, 128, 128, 4, 4, 0, 1]},
        },
        {"mode": "int8-a8", "n": 256, "k": 320, "m": 300, "tile": None, "mixed": {"tile": [64, 128, 128, 4, 4, 0, 1]}},
        {"mode": "int8-a8", "n": 128, "k": 512, "m": 300, "tile": generic},
    ]
    path = tmp_path / "tiles.json"
    path.write_text(json.dumps({"prefill": entries}))
    monkeypatch.setenv(gemv.TILES_ENV, str(path))
    table = gemv.measured_prefill()
    assert table[("int8-a8", 256, 512)] == [(300, MixedTile(64, 128, 128, 4, 4, False, True))]
    assert table[("int8-a8", 128, 512)] == [(300, (64, 128, 4, False, 4, 64, 1))]
    monkeypatch.setattr(prefill, "measured_prefill", lambda: table)
    calls = []
    monkeypatch.setattr(prefill, "mixed_linear", lambda *a, x_scale=None: calls.append((a, x_scale)) or "mixed")
    monkeypatch.setattr(prefill, "gemv", lambda *a, config=None, **kw: calls.append(config) or "generic")
    x, xs = torch.randint(-128, 128, (300, 512), dtype=torch.int8), torch.rand(300)
    w = torch.randint(-128, 128, (256, 512), dtype=torch.int8)
    assert prefill.prefill_linear(x, w, torch.rand(256), None, 0, None, xs, torch.bfloat16) == "mixed"
    assert calls[0][0][7] == MixedTile(64, 128, 128, 4, 4, False, True) and calls[0][1] is xs
    assert prefill.prefill_linear(x, w[:128], torch.rand(128), None, 0, None, xs, torch.bfloat16) == "generic"
    # K = 320 is no multiple of the tile's 128: the scheme's default path (W8A8 int8: the generic Triton GEMM)
    x320, w320 = x[:, :320].contiguous(), w[:, :320].contiguous()
    assert prefill.prefill_linear(x320, w320, torch.rand(256), None, 0, None, xs, torch.bfloat16) == "generic"
    assert len(calls) == 3 and calls[2].block_m == 128 and calls[2].block_k == 128  # dot_config's GEMM default


def test_prefill_runs_the_measured_gemm_tile_near_its_rows_and_the_library_elsewhere(monkeypatch):
    """A sweep's prefill entry (a Triton GEMM tile that beat the library path for a scheme and weight shape at M
    rows) is taken within a factor of 2 of M; elsewhere, and where the library path won, the library path runs."""
    from vlmq.engine.kernels import pack_int4, prefill

    tile = (128, 64, 4, True, 8, 64, 2)  # block_n, block_k, stages, swap, warps, block_m, K slices
    table = {("int8-a16", 256, 512): [(300, tile)], ("int4-g128", 256, 512): [(300, None)]}
    monkeypatch.setattr(prefill, "measured_prefill", lambda: table)
    int8 = torch.randint(-128, 128, (256, 512), dtype=torch.int8)
    assert prefill.measured_tile("w8a16", int8, 0, 300) == tile
    assert prefill.measured_tile("w8a16", int8, 0, 150) == tile and prefill.measured_tile("w8a16", int8, 0, 600) == tile
    assert prefill.measured_tile("w8a16", int8, 0, 601) is None  # unmeasured row count: the library path
    assert prefill.measured_tile("w8a8_int8", int8, 0, 300) is None  # another scheme's GEMM
    int4 = pack_int4(torch.randint(-8, 8, (256, 512), dtype=torch.int8))  # K from the packed words
    assert prefill.measured_tile("w4a16", int4, 128, 300) is None  # the library path won there
    calls = []
    monkeypatch.setattr(prefill, "gemv", lambda *args, config=None, **kw: calls.append(config) or "tile")
    x = torch.randn(300, 512, dtype=torch.bfloat16)
    assert prefill.prefill_linear(x, int8, torch.rand(256), None, 0, None, None, torch.bfloat16) == "tile"
    cfg = calls[0]
    assert (cfg.kernel, cfg.block_m, cfg.block_n, cfg.block_k, cfg.num_stages, cfg.swap, cfg.num_warps) == (
        "dot",
        64,
        128,
        64,
        4,
        True,
        8,
    )
    assert cfg.split_k == 2
    # a path given by name (the sweep's library baseline) is never replaced by the measured tile
    monkeypatch.setattr(prefill, "dequantize_w8_cuda", lambda q, s, dtype, out: out.copy_(q.float() * s[:, None]))
    y = prefill.prefill_linear(x, int8, torch.rand(256), None, 0, None, None, torch.bfloat16, path="dequant")
    assert isinstance(y, torch.Tensor) and len(calls) == 1


def test_vlmq_tiles_points_decode_calls_at_another_table_and_a_bad_one_fails_in_one_line(monkeypatch, tmp_path):
    """``$VLMQ_TILES`` is read where a call resolves its tile (bench_decode_ab.py A/Bs two tables in one process by
    it); unset, the shipped table; a file that is not a table is one line naming the variable."""
    from vlmq.engine.kernels import gemv
    from vlmq.errors import VlmqError

    entry = {"format": "int4", "n": 256, "k": 512, "rows": 4, "warps": 2, "vec": 1, "split": 2, "pipe": True}
    path = tmp_path / "tiles.json"
    path.write_text(json.dumps({"sum_m1": [entry]}))
    shipped = gemv.default_config(gemv.W_INT4, 1, 256, 512, 128)
    monkeypatch.setenv(gemv.TILES_ENV, str(path))
    cfg = gemv.default_config(gemv.W_INT4, 1, 256, 512, 128)
    assert (cfg.kernel, cfg.block_n, cfg.num_warps, cfg.vec, cfg.split_k, cfg.pipe) == ("sum", 4, 2, 1, 2, True)
    assert cfg != shipped
    monkeypatch.delenv(gemv.TILES_ENV)
    assert gemv.default_config(gemv.W_INT4, 1, 256, 512, 128) == shipped
    monkeypatch.setenv(gemv.TILES_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(VlmqError) as err:
        gemv.default_config(gemv.W_INT4, 1, 256, 512, 128)
    assert "$VLMQ_TILES" in str(err.value) and "\n" not in str(err.value)


def test_prefill_route_names_the_path_prefill_linear_runs_per_scheme():
    """``prefill_route`` is the one decision ``prefill_linear`` executes (SidePreparation plans by it too): the
    library paths by scheme without a measured tile, the generic Triton GEMM where K breaks the library's shape
    rules, a named path kept, an unknown one refused."""
    from vlmq.engine.kernels import pack_int4, prefill

    x = torch.randn(300, 512, dtype=torch.bfloat16)
    int8 = torch.randint(-128, 128, (256, 512), dtype=torch.int8)
    int4 = pack_int4(torch.randint(-8, 8, (256, 512), dtype=torch.int8))
    fp8 = torch.randn(256, 512).to(torch.float8_e4m3fn)
    route = lambda x, w, **kw: prefill.prefill_route(x, w, 128 if w.dtype == torch.int32 else 0, **kw).path  # noqa: E731
    assert route(x, torch.randn(256, 512, dtype=torch.bfloat16)) == "cublas"
    assert route(x, int8) == route(x, int4) == "dequant"
    assert route(x, int8, path="triton") == "triton"
    assert route(torch.randint(-128, 128, (300, 512), dtype=torch.int8), int8) == "triton"  # SmoothQuant's W8A8
    assert route(x.to(torch.float8_e4m3fn), fp8) == "scaled_mm"
    assert route(x[:, :200], int8[:, :200]) == "triton"  # K not a multiple of 16: no library call
    with pytest.raises(ValueError, match="prefill path 'int_mm' is not one of"):
        route(x, int4, path="int_mm")


def test_prefill_linear_takes_a_weight_made_ahead_inside_made_ahead_only(monkeypatch):
    """Inside ``made_ahead`` the dequantize route multiplies the weight made ahead (SidePreparation's side-stream
    copy) instead of dequantizing at the call; outside, and for another weight, it dequantizes as before."""
    from vlmq.engine.kernels import prefill

    monkeypatch.setattr(prefill, "dequantize_w8_cuda", lambda q, s, dtype, out: out.copy_(q.float() * s[:, None]))
    x = torch.randn(300, 512, dtype=torch.bfloat16)
    int8, other = (torch.randint(-128, 128, (256, 512), dtype=torch.int8) for _ in range(2))
    scale = torch.rand(256) * 1e-2
    made = torch.randn(256, 512, dtype=torch.bfloat16)
    args = (None, 0, None, None, torch.bfloat16)
    plain = prefill.prefill_linear(x, int8, scale, *args)
    assert torch.equal(plain, x @ (int8.float() * scale[:, None]).bfloat16().t())
    with prefill.made_ahead({prefill.prepared_key(int8): made}):
        assert torch.equal(prefill.prefill_linear(x, int8, scale, *args), x @ made.t())
        assert torch.equal(
            prefill.prefill_linear(x, other, scale, *args), x @ (other.float() * scale[:, None]).bfloat16().t()
        )
    assert torch.equal(prefill.prefill_linear(x, int8, scale, *args), plain)


def test_work_ahead_makes_dequantized_copies_and_int4_group_terms_where_the_route_would(monkeypatch):
    """Per layer, what SidePreparation makes one layer ahead: the bf16 copy of a weight on the dequantize route
    (not above PREPARE_MAX_BYTES), the group terms of an int4 weight on the CUTLASS route, nothing for a weight
    whose GEMM reads it as it is (int8 through CUTLASS) or at decode-sized prompts (the GEMV runs)."""
    from vlmq.engine.kernels import pack_int4, prefill

    cutlass = {("int4-g128", 512, 256), ("int8-a16", 512, 256)}  # (mode, N, K) with a CUTLASS tile at 300 rows
    monkeypatch.setattr(
        prefill, "measured_tile", lambda kind, w, g, m: gemv_tile(prefill, kind, w, g) if m > 64 else None
    )
    monkeypatch.setattr(prefill, "cutlass_runs", lambda x, w, g=0: True)

    def gemv_tile(prefill, kind, w, g):
        from vlmq.engine.kernels.gemv import CutlassTile

        mode = prefill.SWEEP_MODES[kind].format(g if w.dtype == torch.int32 else "int8")
        k = w.shape[1] * (8 if w.dtype == torch.int32 else 1)
        return CutlassTile(3) if (mode, w.shape[0], k) in cutlass else None

    def pack(fmt, n, k):
        q = torch.randint(-8, 8, (n, k), dtype=torch.int8)
        if fmt == "int4":
            return pack_int4(q), torch.rand(n, k // 128), torch.zeros(n, k // 128, dtype=torch.int8), 128
        return q, torch.rand(n), None, 0

    layer = [pack("int4", 256, 256), pack("int4", 512, 256), pack("int8", 512, 256), pack("int8", 384, 256)]
    work = prefill.work_ahead([layer, layer], 300, torch.bfloat16, torch.device("cpu"))
    assert [[(pos, what) for pos, *_, what in items] for items in work] == [
        [(0, "dequantize"), (1, "terms"), (3, "dequantize")]
    ] * 2
    assert work[0][1][1] is layer[1][0]
    monkeypatch.setattr(prefill, "PREPARE_MAX_BYTES", 256 * 256 * 2)  # the 384-row int8 copy no longer fits
    work = prefill.work_ahead([layer], 300, torch.bfloat16, torch.device("cpu"))
    assert [(pos, what) for pos, *_, what in work[0]] == [(0, "dequantize"), (1, "terms")]
    assert prefill.work_ahead([layer], 64, torch.bfloat16, torch.device("cpu")) == [[]]
    # $VLMQ_PREFILL_PREPARE=shuffle: the int4 weight on a CUTLASS tile with a shuffled twin is also made shuffled
    work = prefill.work_ahead([layer], 300, torch.bfloat16, torch.device("cpu"), shuffle=True)
    assert [(pos, what) for pos, *_, what in work[0]] == [(0, "dequantize"), (1, "shuffle")]


def test_only_int4_cutlass_tiles_with_a_shuffled_twin_are_made_shuffled():
    from vlmq.engine.kernels import pack_int4, prefill
    from vlmq.engine.kernels.cutlass_gemm import W4_SHUFFLED_TWINS

    int4, int8 = pack_int4(torch.zeros(16, 64, dtype=torch.int8)), torch.zeros(16, 64, dtype=torch.int8)
    lonely = next(t for t in range(14) if t not in W4_SHUFFLED_TWINS)
    for tile in (*W4_SHUFFLED_TWINS, lonely):
        route = prefill.PrefillRoute("cutlass", tile)
        assert prefill.weight_side_work(route, int4) == "terms"
        assert prefill.weight_side_work(route, int4, shuffle=True) == ("terms" if tile == lonely else "shuffle")
        assert prefill.weight_side_work(route, int8, shuffle=True) is None
    assert prefill.weight_side_work(prefill.PrefillRoute("dequant"), int4, shuffle=True) == "dequantize"
    rows_of_8 = pack_int4(torch.zeros(24, 64, dtype=torch.int8))  # CUTLASS runs N % 8, the shuffled atoms need N % 16
    assert prefill.weight_side_work(prefill.PrefillRoute("cutlass", 3), rows_of_8, shuffle=True) == "terms"


def test_prefill_prepare_setting_is_read_and_a_wrong_value_refused_in_one_line(monkeypatch):
    from vlmq.engine.kernels import prefill
    from vlmq.errors import VlmqError

    monkeypatch.delenv(prefill.PREPARE_ENV, raising=False)
    assert prefill.prefill_prepare_mode() == "side"  # on unless turned off
    for mode in ("side", "shuffle", "off"):
        monkeypatch.setenv(prefill.PREPARE_ENV, mode)
        assert prefill.prefill_prepare_mode() == mode
    monkeypatch.setenv(prefill.PREPARE_ENV, "ahead")
    with pytest.raises(VlmqError) as err:
        prefill.prefill_prepare_mode()
    assert "$VLMQ_PREFILL_PREPARE='ahead'" in str(err.value) and "off, side, shuffle" in str(err.value)
    assert "\n" not in str(err.value)
