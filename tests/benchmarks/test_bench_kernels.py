"""The measured-tile table of the GEMV (``vlmq/engine/kernels/tiles/h200.json``) and the benchmark that writes it."""

import json
import pathlib
import sys
import tempfile

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_kernels  # noqa: E402
import bench_prefill_gemm  # noqa: E402
import bench_w4_mma  # noqa: E402
from vlmq.engine.kernels.gemv import TILES_FILE, W_FLOAT, default_config, measured_tiles  # noqa: E402


def row(mode, m, config, us, default=False, shape="qkv"):
    return dict(preset="2b", shape=shape, m=m, mode=mode, config=config, us=us, tb_s=1.0, default=default)


def test_tiles_keep_the_fastest_candidate_with_the_defaults_time():
    sweep = {"device": "GPU", "date": "d", "triton": "t"}
    sweep["results"] = [
        row("bf16", 1, ["sum", 1, 16, 256, 3, 1, 1, 1, False], 5.5, default=True),
        row("bf16", 1, ["sum", 1, 4, 1024, 1, 4, 1, 1, True], 4.1),
        row("bf16", 1, ["sum", 1, 8, 512, 1, 2, 1, 1, True], 4.6),
        row("fp8-a8", 16, ["dot", 16, 32, 128, 1, 4, 4, 1, False], 5.0),
        row("int8-a16", 1, ["sum", 1, 8, 1024, 1, 2, 1, 2, False], 2.0, default=True),
        row("int8-a8", 1, ["sum", 1, 16, 1024, 1, 1, 1, 4, True], 3.0),  # smoothquant's: kept beside int8_wo's
        row("int8-a8", 1, ["sum", 1, 4, 1024, 1, 4, 1, 2, True], 3.5, default=True),
    ]
    tiles = bench_kernels.tiles_from_sweep([sweep], ["a.json"])
    kept, int8, w8a8 = sorted(tiles["sum_m1"], key=lambda t: (t["format"], t.get("activations", "")))
    assert (int8["format"], int8["rows"], int8["us"]) == ("int8", 8, 2.0) and "activations" not in int8
    assert (w8a8["format"], w8a8["activations"], w8a8["rows"], w8a8["us"], w8a8["default_us"]) == (
        "int8",
        "int8",
        16,
        3.0,
        3.5,
    )
    assert (kept["format"], kept["n"], kept["k"]) == ("bf16", 2048, 1536)
    assert (kept["rows"], kept["warps"], kept["vec"], kept["split"], kept["pipe"]) == (4, 4, 1, 1, True)
    assert (kept["us"], kept["default_us"]) == (4.1, 5.5)
    (dot,) = tiles["dot_m16"]
    assert (dot["format"], dot["block_n"], dot["block_k"], dot["split"], dot["stages"]) == ("fp8", 32, 128, 1, 4)
    assert dot["default_us"] is None


def test_a_later_sweep_replaces_an_earlier_ones_cases_and_keeps_swap_and_post():
    """Machines differ: a case measured again is taken from the later sweep only (even where the earlier machine
    timed it faster); the tensor-core tile's swap / post flags travel into the table (old sweeps lack them)."""
    old = {"device": "GPU", "date": "d1", "triton": "t"}
    old["results"] = [
        row("int4-g128", 16, ["dot", 16, 64, 128, 1, 4, 3, 1, False], 3.0, shape="gate_up"),
        row("bf16", 16, ["dot", 16, 64, 128, 1, 4, 3, 1, False], 9.0),
    ]
    new = {"device": "GPU", "date": "d2", "triton": "t"}
    new["results"] = [
        row("int4-g128", 16, ["dot", 16, 64, 128, 1, 4, 3, 1, False, False, False], 20.0, True, shape="gate_up"),
        row("int4-g128", 16, ["dot", 16, 128, 128, 2, 4, 4, 1, False, True, True], 12.0, shape="gate_up"),
    ]
    new["results"].append(row("int4-g128", 1, ["dot", 16, 64, 128, 1, 4, 3, 1, False, True, False], 8.0))
    new["results"].append(row("int4-g128", 1, ["sum", 1, 8, 1024, 1, 2, 1, 4, True], 9.0, True))
    tiles = bench_kernels.tiles_from_sweep([old, new], ["old.json", "new.json"])
    (one_row,) = tiles["dot_m1"]  # a tensor-core tile that beat the CUDA cores at one row
    assert (one_row["shape"], one_row["swap"], one_row["us"], one_row["default_us"]) == ("2b qkv", True, 8.0, 9.0)
    (cuda_cores,) = tiles["sum_m1"]  # kept beside it: gemv_config takes it where its prologue saves a launch
    assert (cuda_cores["rows"], cuda_cores["us"]) == (8, 9.0)
    by_shape = {t["shape"]: t for t in tiles["dot_m16"]}
    assert set(by_shape) == {"2b gate_up", "2b qkv"}
    kept = by_shape["2b gate_up"]
    assert (kept["block_n"], kept["split"], kept["stages"], kept["swap"], kept["post"]) == (128, 2, 4, True, True)
    assert (kept["us"], kept["default_us"]) == (12.0, 20.0)
    assert (by_shape["2b qkv"]["swap"], by_shape["2b qkv"]["post"]) == (False, False)


def ab_record(recipe, before, after, env="VLMQ_TILES"):
    """A bench_decode_ab.py record: each variant's decode rounds (ms/token), shipped table first."""
    variants = ["tiles/h200.json", "after.json"]
    summary = {v: dict(min=min(t), max=max(t)) for v, t in zip(variants, (before, after))}
    return dict(env=env, variants=variants, results=[dict(recipe=recipe, batch=1, summary=summary)])


def test_an_engine_veto_keeps_the_earlier_sweeps_tiles_of_that_preset_and_format_only():
    """A newer sweep's tiles that lost in the whole decode step (an engine A/B) are not taken for the vetoed preset
    and format: that case comes from the earlier sweep; the newer sweep's other formats still replace theirs."""
    old = {"device": "GPU", "date": "d1", "triton": "t"}
    old["results"] = [
        row("int4-g128", 1, ["sum", 1, 4, 1024, 1, 4, 1, 4, False], 7.0, True),
        row("int8-a16", 1, ["sum", 1, 4, 1024, 1, 4, 1, 4, False], 8.0, True),
    ]
    new = {"device": "GPU", "date": "d2", "triton": "t"}
    new["results"] = [
        row("int4-g128", 1, ["sum", 1, 4, 1024, 1, 4, 1, 4, False], 7.2, True),
        row("int4-g128", 1, ["sum", 1, 8, 512, 1, 1, 1, 4, False, False, False, False, 96], 6.5),
        row("int8-a16", 1, ["sum", 1, 4, 1024, 1, 4, 1, 4, False], 8.1, True),
        row("int8-a16", 1, ["sum", 1, 8, 512, 1, 1, 1, 4, False, False, False, False, 80], 7.5),
    ]
    read = lambda path: ab_record("int4_wo", [2.180, 2.181], [2.185, 2.190])  # noqa: E731
    veto = bench_kernels.engine_veto("2b:int4:ab.json", "new.json", read=read)
    assert (veto["preset"], veto["format"], veto["recipes"]) == ("2b", "int4", ["int4_wo"])
    tiles = bench_kernels.tiles_from_sweep([old, new], ["old.json", "new.json"], [veto])
    by_format = {t["format"]: t for t in tiles["sum_m1"]}
    assert (by_format["int4"]["rows"], by_format["int4"]["us"], by_format["int4"].get("maxnreg")) == (4, 7.0, None)
    assert (by_format["int8"]["rows"], by_format["int8"]["maxnreg"]) == (8, 80)
    assert tiles["vetoed"] == [veto]
    unvetoed = bench_kernels.tiles_from_sweep([old, new], ["old.json", "new.json"])
    assert {t["format"]: t["rows"] for t in unvetoed["sum_m1"]} == {"int4": 8, "int8": 8} and "vetoed" not in unvetoed


@pytest.mark.parametrize(
    "text, record, why",
    [
        ("2b:int4:ab.json", ab_record("int4_wo", [2.18, 2.19], [2.185, 2.20]), "slower than the first"),  # overlap
        ("2b:int4:ab.json", ab_record("int8_wo", [2.18, 2.181], [2.19, 2.2]), "slower than the first"),  # other format
        ("2b:int4:ab.json", ab_record("int4_wo", [2.18], [2.19], env="VLMQ_PDL"), "VLMQ_TILES A/B"),
        ("9b:int4:ab.json", None, "PRESET one of"),
        ("2b:int4:ab.json", ab_record("int4_wo", [2.18], [2.19]) | {"model": "qwen2-vl-7b"}, "not qwen2-vl-2b"),
        ("2b:int4", None, "PRESET:FORMAT:AB_JSON"),
    ],
)
def test_an_engine_veto_needs_an_ab_that_measured_the_loss_and_says_so_in_one_line(text, record, why):
    with pytest.raises(ValueError) as err:
        bench_kernels.engine_veto(text, "new.json", read=lambda path: record)
    assert why in str(err.value) and "\n" not in str(err.value)


def test_write_tiles_refuses_a_veto_it_cannot_read_and_keeps_the_table(tmp_path, capsys):
    before = TILES_FILE.read_bytes()
    args = ["--out", str(tmp_path), "--write-tiles", "a.json", "--veto", f"7b:int4:{tmp_path / 'nope.json'}"]
    assert bench_kernels.main(args) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "cannot read" in out[0] and "bench_decode_ab.py --env VLMQ_TILES" in out[0]
    assert TILES_FILE.read_bytes() == before
    with pytest.raises(SystemExit):
        bench_kernels.parse_args(["--out", str(tmp_path), "--veto", "7b:int4:ab.json"])


def test_sweep_tries_swapped_tiles_and_int4_post_scaling():
    from vlmq.engine.kernels.gemv import W_FLOAT, W_INT4

    one_row = bench_kernels.sweep_configs(W_INT4, 1, 17920, 1536)
    assert {c.kernel for c in one_row} == {"sum", "dot"} and all(c.swap for c in one_row if c.kernel == "dot")

    int4 = bench_kernels.sweep_configs(W_INT4, 16, 17920, 1536)
    assert any(c.swap and c.post for c in int4) and any(not c.swap and not c.post for c in int4)
    assert all(c.block_n >= 64 for c in int4 if c.swap) and len(set(int4)) == len(int4)
    assert not any(c.post for c in bench_kernels.sweep_configs(W_FLOAT, 16, 17920, 1536))


def test_one_row_sweep_tries_narrow_int4_loads_at_eight_rows():
    """vec 1 and 2 (fewer registers a lane than vec 4: more warps resident) at 4 and 8 rows on one or two warps, not
    only at 16 rows on one."""
    from vlmq.engine.kernels.gemv import W_FP8, W_INT4

    sums = {
        (c.block_n, c.num_warps, c.vec, c.pipe)
        for c in bench_kernels.sweep_configs(W_INT4, 1, 37888, 3584)
        if c.kernel == "sum"
    }
    for rows, warps, vec, pipe in [(8, 1, 2, True), (8, 1, 1, False), (4, 2, 2, False), (8, 2, 1, True)]:
        assert (rows, warps, vec, pipe) in sums
    assert (8, 1, 4, False) in sums  # the shipped tile stays a candidate
    assert {c.vec for c in bench_kernels.sweep_configs(W_FP8, 1, 37888, 3584) if c.kernel == "sum"} == {1}


def test_one_row_sweep_tries_whole_bf16_rows_in_one_k_tile_at_eight_warps():
    """BF16 rows of up to 2048 values (the 2b's K = 1536) get eight-warp tiles whose one K tile holds the whole row,
    unsplit and unstaged (so it loads before the PDL wait); the 7b's K = 3584 and the packed formats do not."""
    from vlmq.engine.kernels.gemv import W_FLOAT, W_INT8

    def eight_warps(fmt, n, k):
        return [c for c in bench_kernels.sweep_configs(fmt, 1, n, k) if c.kernel == "sum" and c.num_warps == 8]

    whole = eight_warps(W_FLOAT, 1536, 1536)
    assert {c.block_n for c in whole} == {4, 8, 16}
    assert all(c.block_k >= 1536 and c.split_k == 1 and c.num_stages == 1 and not c.pipe for c in whole)
    assert not eight_warps(W_FLOAT, 3584, 3584) and not eight_warps(W_INT8, 1536, 1536)


def test_one_row_sweep_tries_int8_at_128_bit_loads_beside_its_vec_2_tiles():
    """int8 at vec 4 (four words a lane: 128-bit weight loads) across rows and warps, and its vec 2 and 1 tiles
    as before (the shipped int8 tiles are vec 2: 8 rows on four warps for the 7b o_proj among them)."""
    from vlmq.engine.kernels.gemv import W_INT8

    sums = {
        (c.block_n, c.num_warps, c.vec, c.pipe)
        for c in bench_kernels.sweep_configs(W_INT8, 1, 3584, 3584)
        if c.kernel == "sum"
    }
    assert {(8, 1, 4, False), (4, 2, 4, True), (16, 4, 4, False)} <= sums
    assert {(8, 4, 2, False), (4, 2, 2, True), (4, 1, 1, False)} <= sums
    assert {vec for _, _, vec, _ in sums} == {1, 2, 4}


def test_shipped_tiles_are_what_the_recorded_sweeps_give():
    """The table in the package is reproducible from the sweeps (and prefill-GEMM runs) committed under
    benchmarks/results."""
    shipped = json.loads(TILES_FILE.read_text())
    sweeps = [json.loads((ROOT / path).read_text()) for path in shipped["sources"]]
    again = bench_kernels.tiles_from_sweep(sweeps, shipped["sources"], shipped.get("vetoed", []))
    # and the prefill GEMM's tiles from the prefill_gemm.jsonl runs recorded beside them
    again = bench_prefill_gemm.reapply_recorded(
        {**again, "prefill_gemm_sources": shipped["prefill_gemm_sources"]}, ROOT
    )
    # and the int4 tensor-core GEMV's entries from its recorded run, where a whole-step A/B adopted them
    adopted = {key: shipped[key] for key in ("w4_mma_source", "w4_mma_adopted") if key in shipped}
    again = bench_w4_mma.reapply_recorded({**again, **adopted}, ROOT)
    assert again == shipped
    for entry in shipped.get("w4_mma_adopted", []):
        assert (ROOT / entry["ab"]).is_file(), entry
    assert any(entry.get("mixed") for entry in shipped["prefill"])
    sum_m1, _, _ = measured_tiles()
    rows, warps, vec, split, pipe, stages, maxnreg = sum_m1[(W_FLOAT, 2048, 1536)]
    cfg = default_config(W_FLOAT, 1, 2048, 1536)
    got = (cfg.kernel, cfg.block_n, cfg.num_warps, cfg.split_k, cfg.pipe, cfg.num_stages, cfg.maxnreg)
    assert got == ("sum", rows, warps, split, pipe, stages, maxnreg)


def test_write_tiles_from_the_recorded_sweeps_gives_the_shipped_table_back(tmp_path, monkeypatch):
    """Rewriting the table from its own recorded sweeps changes nothing: the prefill GEMM tiles and the int4
    tensor-core GEMV's adopted entries (with their run and A/Bs) stay."""
    import vlmq.engine.kernels.gemv as gemv

    shipped = TILES_FILE.read_text()
    copy = tmp_path / "h200.json"
    copy.write_text(shipped)
    monkeypatch.setattr(gemv, "TILES_FILE", copy)
    monkeypatch.chdir(ROOT)
    sources = json.loads(shipped)["sources"]
    assert bench_kernels.main(["--out", str(tmp_path / "out"), "--write-tiles", *sources]) == 0
    again = json.loads(copy.read_text())
    assert again == json.loads(shipped) and again["w4_mma_adopted"]


def test_write_tiles_refuses_a_missing_sweep_in_one_line(tmp_path, capsys):
    before = TILES_FILE.read_bytes()
    assert bench_kernels.main(["--out", str(tmp_path), "--write-tiles", str(tmp_path / "nope.json")]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "pass the bench_kernels_sweep.json" in out[0]
    assert TILES_FILE.read_bytes() == before


def test_prefill_sweep_times_gemm_tiles_against_the_library_path_and_writes_no_decode_tile():
    """At prefill rows the sweep's baseline is prefill_linear's default (library) path, the candidates GEMM tiles
    with swapped and plain operands, of 64 and 128 rows, split along K where K is long; its rows never become
    decode tiles, and the table keeps each tile's rows and slices."""
    from vlmq.engine.kernels.gemv import W_INT8

    configs = bench_kernels.sweep_configs(W_INT8, 300, 18944 * 2, 3584)
    assert configs[0] == bench_kernels.LIBRARY
    tiles = configs[1:]
    assert tiles and all(c.kernel == "dot" for c in tiles) and len(set(tiles)) == len(tiles)
    assert {c.swap for c in tiles} == {False, True} and {c.num_warps for c in tiles} == {4, 8}
    assert {c.block_m for c in tiles} == {64, 128} and {c.split_k for c in tiles} == {1, 2, 4}
    short = bench_kernels.sweep_configs(W_INT8, 300, 2048, 256)[1:]  # K of 2-4 tiles: no slices
    assert {c.split_k for c in short} == {1}
    sweep = {"device": "GPU", "date": "d", "triton": "t"}
    sweep["results"] = [
        dict(preset="7b", shape="gate_up", m=300, mode="int8-a16", config=["library"], us=90.0, default=True),
        dict(preset="7b", shape="gate_up", m=300, mode="int8-a16", config=list(tiles[0]), us=80.0, default=False),
    ]
    table = bench_kernels.tiles_from_sweep([sweep], ["p.json"])
    assert table["sum_m1"] == table["dot_m1"] == table["dot_m16"] == []
    (entry,) = table["prefill"]  # the tile beat the library path: prefill_linear will run it
    assert (entry["mode"], entry["n"], entry["k"], entry["m"]) == ("int8-a16", 18944 * 2, 3584, 300)
    assert (entry["library_us"], entry["tile_us"]) == (90.0, 80.0)
    t = tiles[0]
    assert entry["tile"] == dict(
        block_n=t.block_n,
        block_k=t.block_k,
        stages=t.num_stages,
        swap=t.swap,
        warps=t.num_warps,
        block_m=t.block_m,
        split=t.split_k,
    )
    sliced = next(c for c in tiles if c.block_m == 64 and c.split_k == 2)
    sweep["results"][1]["config"] = list(sliced)
    (entry,) = bench_kernels.tiles_from_sweep([sweep], ["p.json"])["prefill"]
    assert (entry["tile"]["block_m"], entry["tile"]["split"]) == (64, 2)
    sweep["results"][1]["us"] = 95.0  # slower than the library: recorded, no tile
    assert bench_kernels.tiles_from_sweep([sweep], ["p.json"])["prefill"][0]["tile"] is None


def test_sweep_tries_int4_fragment_order_tiles_where_they_fit_and_the_table_keeps_the_flag():
    from vlmq.engine.kernels.gemv import W_INT4, W_INT8, dot_config, frag_fits

    int4 = bench_kernels.sweep_configs(W_INT4, 16, 17920, 1536)
    frag = [c for c in int4 if c.frag]
    assert any(c.swap and c.post for c in frag) and any(not c.swap and not c.post for c in frag)
    assert all(frag_fits(c.block_n, c.block_k, c.num_warps, c.swap) for c in frag)
    one_group = [c for c in frag if c.block_k <= 128]
    assert {c._replace(frag=False) for c in one_group} <= set(int4)  # each beside its column-order twin
    # those of two or four groups a K tile have none (column order reads one group a tile): swapped, scales in registers
    assert all(c.swap and not c.post for c in frag if c.block_k > 128)
    assert any(c.frag for c in bench_kernels.sweep_configs(W_INT4, 1, 17920, 1536))
    assert not any(c.frag for c in bench_kernels.sweep_configs(W_INT8, 16, 17920, 1536))
    sweep = {"device": "GPU", "date": "d", "triton": "t"}
    best = dot_config(W_INT4, 16, 17920, 1536, 128, block_n=64, block_k=64, swap=True, post=True, frag=True)
    sweep["results"] = [row("int4-g128", 16, list(best), 9.0, shape="gate_up")]
    (kept,) = bench_kernels.tiles_from_sweep([sweep], ["a.json"])["dot_m16"]
    assert (kept["swap"], kept["post"], kept["frag"]) == (True, True, True)


def test_dequant_overlap_bench_says_it_needs_a_gpu_and_measures_nothing_here(tmp_path, capsys, monkeypatch):
    """benchmarks/bench_dequant_overlap.py (run on the device): on a machine without CUDA it says so and writes
    nothing, rather than reporting CPU figures."""
    import bench_dequant_overlap

    monkeypatch.setattr(bench_dequant_overlap.torch.cuda, "is_available", lambda: False)
    assert bench_dequant_overlap.main(["--out", str(tmp_path / "o")]) == 1
    assert "needs a CUDA GPU" in capsys.readouterr().out
    assert not (tmp_path / "o").exists()
    assert all(name in bench_kernels.SHAPES["7b"] for name in bench_dequant_overlap.PROJECTIONS)


def test_dequant_overlap_bench_refuses_a_format_it_cannot_dequantize(capsys):

    import bench_dequant_overlap

    with pytest.raises(SystemExit):
        bench_dequant_overlap.main(["--out", "unused", "--formats", "int8,fp8"])
    assert "--formats takes int8 and / or int4" in capsys.readouterr().err


def test_dequant_overlap_slices_cover_every_output_column_once_as_the_engine_slices():
    """The side-stream slices of ``sliceNMB+overlap``: every output column written by exactly one slice, each the
    size ``dequant_slices`` gives the engine's ``dequant_linear``, and a slice of a pack dequantizes to the
    same rows of the whole weight (int8 per-row scales; int4 packed along K with per-row groups)."""
    import torch

    import bench_dequant_overlap as bdo
    from vlmq.engine.kernels import w4

    shapes = [(320, 256), (128, 256)]
    layers = [
        [bench_kernels.random_pack(fmt, "bf16", n, k, "cpu", 7 * j) for j, (n, k) in enumerate(shapes)]
        for fmt in ("int8", "int4")
    ]
    xs = [torch.zeros(3, k) for _, k in shapes]
    outs = [[torch.zeros(3, n) for n, _ in shapes] for _ in layers]
    units = bdo.chunk_units(layers, xs, outs, 128 * 256 * 2)  # 128 rows of bf16 a slice
    assert [u[0][0].weight.shape[0] for u in units] == [128, 128, 64, 128] * 2
    for unit in units:
        ((_, _, out),) = unit
        out += 1
    assert all(torch.equal(o, torch.ones_like(o)) for layer in outs for o in layer)
    int8, int4 = layers[0][0], layers[1][0]
    part = bdo.row_slice(int8, 128, 256)
    whole = int8.weight.float() * int8.scale[:, None]
    assert torch.equal(part.weight.float() * part.scale[:, None], whole[128:256])
    part = bdo.row_slice(int4, 64, 192)
    deq = lambda p: w4.dequantize_int4(p.weight, p.scale, p.zero, p.group_size, torch.float32)  # noqa: E731
    assert torch.equal(deq(part), deq(int4)[64:192])
    assert [[b.numel() for b in bufs] for bufs in bdo.scratch_for(units)] == [[128 * 256]] * 2


def test_dequant_overlap_bench_refuses_slice_sizes_it_cannot_use(capsys):

    import bench_dequant_overlap

    for bad in ("8,x", "0"):
        with pytest.raises(SystemExit):
            bench_dequant_overlap.main(["--out", "unused", "--slice-mb", bad])
        assert "--slice-mb takes" in capsys.readouterr().err


def test_unknown_shape_is_refused_naming_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        bench_kernels.parse_args(["--out", "unused", "--shapes", "qkv,gateup"])
    err = capsys.readouterr().err
    assert "--shapes takes projections of" in err and "gate_up" in err


def test_plan_filters_shapes():
    cases = bench_kernels.plan(["2b"], (16,), ["bf16", "int4-g128"], ["qkv", "o"])
    assert {c[1] for c in cases} == {"qkv", "o"}
    assert len(bench_kernels.plan(["2b"], (16,), ["bf16"])) > len(bench_kernels.plan(["2b"], (16,), ["bf16"], ["qkv"]))


def test_write_tiles_records_cutlass_only_where_it_beat_dequantize_then_cublas(monkeypatch):
    """A weight-only prefill entry gets ``cutlass`` (the fastest CUTLASS tile's index) where that tile beat every
    other path, int4 judged on the zero-point format with its group terms made at the call; an entry whose CUTLASS
    tiles lost keeps the library path, and the engine's ``measured_prefill`` reads the tile back."""
    from vlmq.engine.kernels.gemv import CutlassTile

    table = {
        "prefill": [
            {"mode": "int8-a16", "n": 4608, "k": 3584, "m": 300, "shape": "7b qkv", "tile": None},
            {"mode": "int4-g128", "n": 4608, "k": 3584, "m": 300, "shape": "7b qkv", "tile": None},
            {"mode": "int8-a16", "n": 2048, "k": 1536, "m": 300, "shape": "2b qkv", "tile": None, "cutlass": {}},
        ]
    }

    def rec(fmt, n, k, path, us):
        return {"format": fmt, "n": n, "k": k, "rows": 300, "path": path, "us": [us, us, us], "tile": None}

    records = [
        rec("int8", 4608, 3584, "dequant", 31.3),
        rec("int8", 4608, 3584, "triton", 47.9),
        rec("int8", 4608, 3584, "cutlass 0", 26.4),
        rec("int8", 4608, 3584, "cutlass 2", 29.0),
        rec("int4z", 4608, 3584, "dequant", 29.1),
        rec("int4z", 4608, 3584, "cutlass 0", 30.0),
        rec("int4z", 4608, 3584, "cutlass 1, terms at load", 20.0),  # not what the engine runs: ignored
        rec("int4", 4608, 3584, "cutlass 0", 10.0),  # the symmetric format does not judge the entry
        rec("int8", 2048, 1536, "dequant", 10.0),
        rec("int8", 2048, 1536, "cutlass 1", 10.9),
    ]
    changes = bench_prefill_gemm.apply_mixed(table, records)
    int8_7b, int4_7b, int8_2b = table["prefill"]
    assert int8_7b["cutlass"] == {"tile": 0, "us": 26.4, "rival": "dequant", "rival_us": 31.3}
    assert "cutlass" not in int4_7b and "cutlass" not in int8_2b  # lost: the stale entry is cleared too
    assert [c[0] for c in changes] == ["int8-a16", "int4-g128", "int8-a16"]
    measured = measured_prefill_of(table, monkeypatch)
    assert measured[("int8-a16", 4608, 3584)] == [(300, CutlassTile(0))]
    assert measured[("int4-g128", 4608, 3584)] == [(300, None)]


def test_write_tiles_picks_cutlass_or_the_triton_gemm_for_w8a8_and_clears_the_other(monkeypatch):
    """A W8A8 prefill entry carries the faster of CUTLASS's W8A8 tiles and the Triton GEMM's (``cutlass`` or
    ``mixed``) where it beat the library call and the generic tile, never both: the engine reads ``cutlass`` first,
    so a stale one would outlive a run that measured the Triton GEMM faster."""
    from vlmq.engine.kernels.gemv import CutlassTile, MixedTile

    stale = {"tile": 3, "us": 1.0, "rival": "scaled_mm", "rival_us": 2.0}
    table = {
        "prefill": [
            {"mode": "fp8-a8", "n": 37888, "k": 3584, "m": 300, "shape": "7b gate/up", "tile": None},
            {"mode": "int8-a8", "n": 3584, "k": 18944, "m": 300, "shape": "7b down", "tile": None, "cutlass": stale},
            {"mode": "fp8-a8", "n": 3584, "k": 3584, "m": 300, "shape": "7b o", "tile": None, "mixed": {"tile": []}},
        ]
    }
    tile = [64, 128, 128, 4, 4, False, True]

    def rec(fmt, n, k, path, us, tile=None):
        return {"format": fmt, "n": n, "k": k, "rows": 300, "path": path, "us": [us] * 3, "tile": tile}

    records = [
        rec("fp8a8", 37888, 3584, "scaled_mm", 117.1),
        rec("fp8a8", 37888, 3584, f"mixed {tuple(tile)}", 141.5, tile),
        rec("fp8a8", 37888, 3584, "cutlass 2", 80.2),
        rec("w8a8", 3584, 18944, "int_mm", 102.0),
        rec("w8a8", 3584, 18944, f"mixed {tuple(tile)}", 56.1, tile),
        rec("w8a8", 3584, 18944, "cutlass 4", 60.0),
        rec("fp8a8", 3584, 3584, "scaled_mm", 12.0),
        rec("fp8a8", 3584, 3584, "cutlass 1", 12.5),
    ]
    bench_prefill_gemm.apply_mixed(table, records)
    gate_up, down, o = table["prefill"]
    assert gate_up["cutlass"] == {"tile": 2, "us": 80.2, "rival": "scaled_mm", "rival_us": 117.1}
    assert "mixed" not in gate_up
    assert down["mixed"]["tile"] == tile and "cutlass" not in down  # the stale CUTLASS tile is gone
    assert "mixed" not in o and "cutlass" not in o  # the library call won
    measured = measured_prefill_of(table, monkeypatch)
    assert measured[("fp8-a8", 37888, 3584)] == [(300, CutlassTile(2))]
    assert measured[("int8-a8", 3584, 18944)] == [(300, MixedTile(*tile))]
    assert measured[("fp8-a8", 3584, 3584)] == [(300, None)]


def measured_prefill_of(table: dict, monkeypatch) -> dict:
    """What the engine's ``measured_prefill`` reads from ``table`` (in place of the shipped tile table)."""
    from vlmq.engine.kernels import gemv

    path = pathlib.Path(tempfile.mkdtemp()) / "tiles.json"
    path.write_text(json.dumps(table))
    monkeypatch.setenv(gemv.TILES_ENV, str(path))
    return gemv.measured_prefill()


def one_row_int4_sweep_args():
    """What ``bench_kernels.py --sweep`` parses for a one-row int4 sweep of the 2b, one compile worker."""
    argv = ["--out", "unused", "--sweep", "--presets", "2b", "--rows", "1", "--modes", "int4-g128", "--jobs", "1"]
    return bench_kernels.parse_args(argv + ["--reps", "1", "--rotate-mb", "1"])


def test_a_sweep_cut_by_its_budget_keeps_whole_groups_only(monkeypatch):
    """The budget may stop the sweep inside a group: that group's timed candidates are dropped (their best is not
    the shape's, and --write-tiles would let it replace an earlier sweep's tile), whole groups stay, and the log
    says which group went."""
    import itertools
    import types

    clock = itertools.count()
    monkeypatch.setattr(bench_kernels, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    monkeypatch.setattr(bench_kernels, "sweep_calls", lambda group, cfg, *rest: [lambda: torch.ones(2)])
    monkeypatch.setattr(bench_kernels, "time_graph", lambda calls, reps: [5.0])
    lines = []
    args = one_row_int4_sweep_args()
    groups = bench_kernels.sweep_groups(args)
    first = len(bench_kernels.sweep_candidates(groups[0]))
    args.budget_s = first + 2.5  # the first group whole, two candidates of the second
    results = bench_kernels.run_sweep(args, lines.append, lambda results: None)
    assert len(results) == first and {r["shape"] for r in results} == {groups[0][1]}
    assert f"{groups[1][1]} m=1 int4-g128 dropped after 2 of" in lines[-1]


def test_plan_keeps_only_the_variants_asked_for():
    every = bench_kernels.plan(["2b"], (1,), ["int8-a16"], ["gate_up"])
    kept = bench_kernels.plan(["2b"], (1,), ["int8-a16"], ["gate_up"], ["vlmq", "vlmq-fused"])
    assert {c[5] for c in kept} == {"vlmq", "vlmq-fused:norm+silu"}
    assert len(every) > len(kept) and set(kept) <= set(every)


def test_one_row_sweep_tries_cuda_core_tiles_through_the_software_pipeliner():
    """int4, int8, bf16 and fp8 tiles at 3 and 4 stages (cp.async into shared memory) beside the register tiles (fp8
    since the forty-ninth session). A staged winner carries its stages into the table; a
    one-stage one writes none."""
    from vlmq.engine.kernels.gemv import W_FLOAT, W_FP8, W_INT4, W_INT8

    for fmt in (W_INT4, W_INT8, W_FLOAT, W_FP8):
        stages = {c.num_stages for c in bench_kernels.sweep_configs(fmt, 1, 37888, 3584) if c.kernel == "sum"}
        assert stages == {1, 3, 4}
    new_bf16 = bench_kernels.sweep_candidates(("2b", "down", 1536, 8960, 1, "bf16"), new_only=True)
    assert {3, 4} <= {c.num_stages for c in new_bf16} and all(c.kernel == "sum" for c in new_bf16)
    # and, for bf16 only, staged tiles under the register caps below 128
    assert {c.maxnreg for c in new_bf16 if c.num_stages > 1} >= {0, 96, 80}
    int8_staged_caps = {c.maxnreg for c in bench_kernels.sweep_configs(W_INT8, 1, 1536, 8960) if c.num_stages > 1}
    assert int8_staged_caps <= {0, *bench_kernels.MAXNREG_CAPS}
    sweep = {"device": "GPU", "date": "d", "triton": "t"}
    sweep["results"] = [
        row("int4-g128", 1, ["sum", 1, 8, 1024, 1, 1, 1, 4, False], 30.0, default=True, shape="gate_up"),
        row("int4-g128", 1, ["sum", 1, 8, 1024, 1, 1, 3, 4, False], 25.0, shape="gate_up"),
        row("int8-a16", 1, ["sum", 1, 8, 1024, 1, 2, 1, 4, False], 9.0, default=True, shape="gate_up"),
        row("int8-a16", 1, ["sum", 1, 8, 1024, 1, 2, 4, 4, False], 9.5, shape="gate_up"),
    ]
    tiles = {t["format"]: t for t in bench_kernels.tiles_from_sweep([sweep], ["a.json"])["sum_m1"]}
    assert tiles["int4"]["stages"] == 3 and tiles["int4"]["us"] == 25.0
    assert "stages" not in tiles["int8"] and tiles["int8"]["us"] == 9.0


def test_a_staged_tile_in_the_table_reaches_the_kernel_config(tmp_path, monkeypatch):
    from vlmq.engine.kernels import gemv

    table = json.loads(TILES_FILE.read_text())
    entry = next(t for t in table["sum_m1"] if t["format"] == "int4" and t["shape"] == "7b gate_up")
    entry["stages"] = 3
    path = tmp_path / "tiles.json"
    path.write_text(json.dumps(table))
    monkeypatch.setenv(gemv.TILES_ENV, str(path))
    cfg = default_config(gemv.W_INT4, 1, 37888, 3584, 128)
    assert (cfg.kernel, cfg.block_n, cfg.num_stages) == ("sum", entry["rows"], 3)
    monkeypatch.delenv(gemv.TILES_ENV)
    assert default_config(gemv.W_INT4, 1, 37888, 3584, 128).num_stages == 1


def capped_table(tmp_path, monkeypatch):
    """The 2b int8 gate/up table tile under the sweep's register caps, and a table (``$VLMQ_TILES``) written from a
    sweep in which the 96 cap won: (the shipped tile, the capped candidates, what the sweep wrote)."""
    from vlmq.engine.kernels import gemv

    shipped = default_config(gemv.W_INT8, 1, 17920, 1536, cuda_cores=True)
    capped = [c for c in bench_kernels.sweep_configs(gemv.W_INT8, 1, 17920, 1536) if c.maxnreg]
    sweep = {"device": "GPU", "date": "d", "triton": "t"}
    sweep["results"] = [
        row("int8-a16", 1, list(shipped), 10.0, default=True, shape="gate_up"),
        row("int8-a16", 1, list(capped[1]), 9.0, shape="gate_up"),
        row("int4-g128", 1, ["sum", 1, 8, 1024, 1, 1, 1, 4, False], 30.0, default=True, shape="gate_up"),
        row("int4-g128", 1, ["sum", 1, 8, 1024, 1, 1, 1, 4, False, False, False, False, 96], 31.0, shape="gate_up"),
    ]
    tiles = {t["format"]: t for t in bench_kernels.tiles_from_sweep([sweep], ["a.json"])["sum_m1"]}
    table = json.loads(TILES_FILE.read_text())
    table["sum_m1"] = [t for t in table["sum_m1"] if (t["format"], t["n"], t["k"]) != ("int8", 17920, 1536)]
    table["sum_m1"].append(tiles["int8"])
    path = tmp_path / "tiles.json"
    path.write_text(json.dumps(table))
    monkeypatch.setenv(gemv.TILES_ENV, str(path))
    return shipped, capped, tiles


def test_one_row_sweep_times_register_caps_on_the_tables_tile_and_a_capped_winner_reaches_the_config(
    tmp_path, monkeypatch
):
    """The one-row sweep adds the table's CUDA-core tile under each register cap (the fused forms hold far more
    registers than the plain ones the table was swept for); a capped winner is written with its cap and read back
    into the shape's config; an uncapped one writes none."""
    from vlmq.engine.kernels import gemv

    shipped, capped, tiles = capped_table(tmp_path, monkeypatch)
    assert capped == [shipped._replace(maxnreg=cap) for cap in bench_kernels.MAXNREG_CAPS]
    assert tiles["int8"]["maxnreg"] == capped[1].maxnreg and tiles["int8"]["us"] == 9.0
    assert "maxnreg" not in tiles["int4"]
    assert default_config(gemv.W_INT8, 1, 17920, 1536) == capped[1]


def test_a_capped_tile_passes_its_cap_to_the_kernel_launch(tmp_path, monkeypatch):
    """``maxnreg`` is a launch option of the CUDA-core kernel where the tile carries a cap, and absent otherwise."""
    pytest.importorskip("triton")
    from vlmq.engine.kernels import gemv
    from vlmq.engine.kernels.gemv_triton import gemv_kernel

    shipped, capped, _ = capped_table(tmp_path, monkeypatch)
    launches = []
    monkeypatch.setattr(
        gemv_kernel, "run", lambda *args, grid, warmup, **kwargs: launches.append(kwargs), raising=False
    )
    pack = bench_kernels.random_pack("int8", "bf16", 17920, 1536, "cpu", 0)
    x = torch.randn(1, 1536, dtype=torch.bfloat16)
    for config in (default_config(gemv.W_INT8, 1, 17920, 1536), shipped):
        gemv.gemv(x, pack.weight, pack.scale, config=config)
    assert launches[0]["maxnreg"] == capped[1].maxnreg and "maxnreg" not in launches[1]


def test_a_sweep_skips_a_candidate_whose_output_is_wrong(monkeypatch):
    """Each candidate's output is compared with the default tile's on the same rows and weights before it is timed:
    a wrong tile, however fast, is logged and left out of the results (so out of the table)."""

    from vlmq.engine.kernels.gemv import W_INT4

    args = one_row_int4_sweep_args()
    args.budget_s = 1e9
    group = bench_kernels.sweep_groups(args)[0]
    default = default_config(W_INT4, 1, group[2], group[3], 128)
    wrong = next(c for c in bench_kernels.sweep_candidates(group) if c != default)
    monkeypatch.setattr(bench_kernels, "sweep_groups", lambda args: [group])
    calls = lambda group, cfg, *rest: [lambda: torch.full((2,), 2.0 if cfg == wrong else 1.0)]  # noqa: E731
    monkeypatch.setattr(bench_kernels, "sweep_calls", calls)
    monkeypatch.setattr(bench_kernels, "time_graph", lambda calls, reps: [1.0])
    lines = []
    results = bench_kernels.run_sweep(args, lines.append, lambda results: None)
    assert tuple(wrong) not in {tuple(r["config"]) for r in results}
    assert len(results) == len(bench_kernels.sweep_candidates(group)) - 1
    assert any("wrong result" in line and str(tuple(wrong)) in line for line in lines)


@pytest.mark.parametrize(
    "shape, mode, norm, act, resid",
    [
        ("gate_up", "int4-g128", True, "silu", False),
        ("down", "int8-a16", False, None, True),
        ("qkv", "int8-a8", True, None, False),
        ("down", "fp8-a8", False, None, True),
    ],
)
def test_a_fused_sweep_times_the_form_the_engine_runs(monkeypatch, shape, mode, norm, act, resid):
    """``--fused``: each candidate runs on float rows with the shape's fusion (RMSNorm in the kernel, SiLU·mul,
    residual; W8A8 rows quantized in the kernel, down_proj's with the row maxima gate/up gathers, as
    ``fused.fused_mlp`` passes them), where the plain sweep passes quantized rows and no fusion."""
    from vlmq.engine.kernels import gemv as gemv_module
    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.gemv import ACT_NONE, ACT_SILU_MUL

    seen = []
    monkeypatch.setattr(gemv_module, "gemv", lambda x, *args, **kwargs: seen.append((x, kwargs)))
    n, k = bench_kernels.SHAPES["2b"][shape]
    group = ("2b", shape, n, k, 1, mode)
    cfg = gemv_module.default_config(bench_kernels.cfg_format(mode), 1, n, k, 128)
    for fused in (False, True):
        (call,) = bench_kernels.sweep_calls(group, cfg, 1, fused, device="cpu")
        call()
    (x_plain, plain), (x_fused, fused) = seen
    assert plain["config"] == fused["config"] == cfg
    assert x_fused.dtype == torch.bfloat16 and fused["a_mode"] == A_MODE_CODES[bench_kernels.MODES[mode][1]]
    assert (fused["norm_weight"] is not None) == norm and (fused["residual"] is not None) == resid
    assert fused["act"] == (ACT_SILU_MUL if act else ACT_NONE)
    assert "norm_weight" not in plain and "residual" not in plain
    assert x_plain.dtype == {"int8-a8": torch.int8, "fp8-a8": torch.float8_e4m3fn}.get(mode, torch.bfloat16)
    row_max = fused.get("x_row_max")
    assert (row_max is not None) == (shape == "down" and mode.endswith("-a8")) and "x_row_max" not in plain
    if row_max is not None:
        assert torch.equal(row_max, x_fused.float().abs().amax(dim=1))


def test_unknown_variants_are_refused_in_one_line(capsys):
    with pytest.raises(SystemExit):
        bench_kernels.parse_args(["--out", "x", "--variants", "vlmq,vlmq-fusd"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--variants takes" in err and "vlmq-fusd" in err and "vlmq-fused" in err
    assert bench_kernels.parse_args(["--out", "x", "--variants", "vlmq-fused:norm,prefill:cublas"]).variants


def test_every_decode_sweep_times_the_table_tile_even_where_its_generator_no_longer_makes_it():
    """The 2b BF16 gate/up's table tile (a pipelined register tile under a register cap, from an earlier sweep) is
    not among today's ``sweep_configs``; a sweep without it let ``--write-tiles`` replace it with a slower tile (the
    twenty-fifth session: 16.4 -> 20.0 us, the step 1.07x slower). Every decode sweep times it, first."""
    group = ("2b", "gate_up", 17920, 1536, 1, "bf16")
    default = default_config(W_FLOAT, 1, 17920, 1536, 128)
    assert default not in bench_kernels.sweep_configs(W_FLOAT, 1, 17920, 1536)  # what the case is about
    recorded = bench_kernels.recorded_tiles()
    for kwargs in ({}, {"new_only": True, "recorded": recorded}, {"frag_only": True}, {"wide_k_only": True},
                   {"ahead_only": True}, {"splits_only": True}):  # fmt: skip
        candidates = bench_kernels.sweep_candidates(group, **kwargs)
        assert candidates[0] == default and candidates.count(default) == 1, kwargs


def test_wide_k_and_ahead_sweeps_keep_only_their_kind_of_tile():
    """``--wide-k-only``: the default, then int4 fragment-order tiles whose K tile spans two or four groups that
    divide K (none in ``post`` form: their sums would span groups), and a tensor-core default with more stages;
    ``--ahead-only``: the default, then CUDA-core tiles in one K slice with the next tile in flight."""
    from vlmq.engine.kernels.gemv import W_INT4

    n, k = bench_kernels.SHAPES["2b"]["down"]  # K = 8960: 70 groups, two a tile divide it, four do not
    wide = bench_kernels.sweep_candidates(("2b", "down", n, k, 16, "int4-g128"), wide_k_only=True)
    default = default_config(W_INT4, 16, n, k, 128)
    assert wide[0] == default and default.kernel == "dot"
    multi = [c for c in wide[1:] if c.block_k > 128]
    assert multi and all(c.frag and c.swap and not c.post and c.block_k == 256 for c in multi)
    assert {c.num_stages for c in wide[1:] if c.block_k == 128} == {default.num_stages + 1, default.num_stages + 2}
    n7, k7 = bench_kernels.SHAPES["7b"]["down"]  # K = 18944: 148 groups, four a tile divide it
    assert {c.block_k for c in bench_kernels.sweep_candidates(("7b", "down", n7, k7, 16, "int4-g128"),
                                                              wide_k_only=True)[1:]} == {128, 256, 512}  # fmt: skip
    ahead = bench_kernels.sweep_candidates(("7b", "down", n7, k7, 1, "int4-g128"), ahead_only=True)
    assert ahead[0] == default_config(W_INT4, 1, n7, k7, 128) and len(ahead) > 10
    assert all(c.kernel == "sum" and (c.pipe or c.num_stages > 1) and c.split_k == 1 for c in ahead[1:])


def test_splits_sweep_times_the_table_tile_at_each_distinct_k_slicing():
    """``--splits-only``: the default, then the same tile at K slice counts from half its own to twice it, one a
    distinct slicing (K = 18944 in 148 tiles of 128: 15 and 16 slices asked both launch 15 of 10 tiles), every slice
    at least two K tiles on tensor cores; nothing but the slice count differs."""
    from vlmq.engine.kernels.gemv import W_INT4, k_slices

    n, k = bench_kernels.SHAPES["7b"]["down"]
    splits = bench_kernels.sweep_candidates(("7b", "down", n, k, 16, "int4-g128"), splits_only=True)
    default = default_config(W_INT4, 16, n, k, 128)
    assert splits[0] == default and default.kernel == "dot"
    assert all(c._replace(split_k=default.split_k) == default for c in splits[1:])
    slicings = [k_slices(c, k)[0] for c in splits]
    assert len(set(slicings)) == len(slicings) and min(slicings) >= 2 * default.block_k
    assert {c.split_k for c in splits} >= {default.split_k // 2, 2 * default.split_k - 1, 14, 19}
    assert all(k_slices(c, k)[1] == c.split_k for c in splits)  # the slices asked are the slices launched
    args = ["--out", "x", "--sweep", "--splits-only", "--ahead-only"]
    with pytest.raises(SystemExit):
        bench_kernels.parse_args(args)


def test_a_later_sweep_that_did_not_time_the_table_tile_does_not_replace_it():
    """--write-tiles compares tiles within one sweep: a later sweep replaces a case only where it timed that
    case's default too; a case no sweep timed the default of takes the latest sweep's, as before."""
    env = {"device": "GPU", "date": "d", "triton": "t"}
    old = {**env, "results": [row("bf16", 1, ["sum", 1, 4, 512, 1, 2, 1, 1, True], 16.4, default=True, shape="gate_up"),
                              row("bf16", 1, ["sum", 1, 4, 512, 1, 2, 4, 1, False], 9.0, default=True, shape="down"),
                              row("bf16", 1, ["sum", 1, 4, 512, 1, 2, 4, 1, False], 4.0, shape="o")]}  # fmt: skip
    new = {**env, "results": [row("bf16", 1, ["sum", 1, 8, 2048, 1, 8, 1, 1, False], 20.0, shape="gate_up"),
                              row("bf16", 1, ["sum", 1, 4, 512, 1, 2, 4, 1, False], 9.5, default=True, shape="down"),
                              row("bf16", 1, ["sum", 1, 8, 1024, 1, 4, 4, 1, False], 8.8, shape="down"),
                              row("bf16", 1, ["sum", 1, 8, 512, 1, 4, 4, 1, False], 4.5, shape="o")]}  # fmt: skip
    tiles = {t["shape"]: t for t in bench_kernels.tiles_from_sweep([old, new], ["a.json", "b.json"])["sum_m1"]}
    assert tiles["2b gate_up"]["us"] == 16.4  # kept: the later sweep did not time it
    assert tiles["2b down"]["us"] == 8.8 and tiles["2b down"]["default_us"] == 9.5  # replaced within one sweep
    assert tiles["2b o"]["us"] == 4.5  # no sweep timed a default: the latest, as before


def test_a_sweep_of_the_tensor_core_tiles_alone_keeps_the_cuda_core_tile_kept_beside_them():
    """At one row the table keeps a CUDA-core tile beside a faster tensor-core one (gemv_config may take it). A later
    sweep that timed the table's tensor-core tile and only tensor-core tiles (``--splits-only``) replaces that tile
    and leaves the CUDA-core one as the earlier sweep had it (the fortieth session's sweep dropped three of them);
    a later sweep with CUDA-core tiles replaces it as before."""
    env = {"device": "GPU", "date": "d", "triton": "t"}
    dot, cuda = ["dot", 16, 64, 256, 1, 4, 3, 1, False, True], ["sum", 1, 4, 1024, 1, 4, 1, 1, True]
    old = {**env, "results": [row("fp8-a8", 1, dot, 9.6, default=True, shape="gate_up"),
                              row("fp8-a8", 1, cuda, 12.1, shape="gate_up"),
                              row("fp8-a8", 1, cuda[:4] + [2] + cuda[5:], 12.5, shape="gate_up")]}  # fmt: skip
    dots = {**env, "results": [row("fp8-a8", 1, dot, 11.7, default=True, shape="gate_up"),
                               row("fp8-a8", 1, dot[:4] + [2] + dot[5:], 11.0, shape="gate_up")]}  # fmt: skip
    tiles = bench_kernels.tiles_from_sweep([old, dots], ["a.json", "b.json"])
    assert [(t["us"], t["split"]) for t in tiles["dot_m1"]] == [(11.0, 2)]
    assert [(t["us"], t["split"]) for t in tiles["sum_m1"]] == [(12.1, 1)]
    cudas = {**env, "results": [row("fp8-a8", 1, dot, 11.7, default=True, shape="gate_up"),
                                row("fp8-a8", 1, cuda, 11.5, shape="gate_up")]}  # fmt: skip
    tiles = bench_kernels.tiles_from_sweep([old, dots, cudas], ["a.json", "b.json", "c.json"])
    assert tiles["dot_m1"] == [] and [t["us"] for t in tiles["sum_m1"]] == [11.5]  # within c.json the CUDA cores won


def test_tile_changes_name_each_entry_added_dropped_or_moved_and_nothing_else():
    entry = dict(format="int4", n=3584, k=18944, shape="7b down", us=25.11, default_us=40.6, block_n=64, split=10)
    cuda = dict(format="fp8", n=17920, k=1536, shape="2b gate_up", us=12.07, default_us=12.19, rows=4, split=1)
    before = {"sum_m1": [cuda], "dot_m16": [entry]}
    after = {"sum_m1": [], "dot_m16": [entry | dict(split=14, us=23.42, default_us=24.48)], "dot_m1": [entry]}
    assert bench_kernels.tile_changes(before, after) == [
        "sum_m1 fp8 2b gate_up: dropped (12.07 us)",
        "dot_m1 int4 7b down: added (25.11 us)",
        "dot_m16 int4 7b down: split 10 -> 14 (25.11 -> 23.42 us)",
    ]
    assert bench_kernels.tile_changes(after, after | {"dot_m16": [entry | dict(split=14, us=20.0)]}) == []  # times only


def test_new_only_sweep_keeps_the_table_tile_and_the_tiles_no_recorded_sweep_timed(tmp_path, capsys):
    """``--new-only``: at one row only the default (the table's tile) and the CUDA-core tiles that no sweep recorded
    under the results folder timed for that shape and mode (a record from before GemvConfig's later fields counts
    with their defaults); every candidate at prefill rows; refused beside ``--frag-only`` in one line."""
    from vlmq.engine.kernels.gemv import W_INT8

    args = bench_kernels.parse_args(["--out", "x", "--sweep", "--new-only", "--rows", "1", "--modes", "int8-a16",
                                     "--presets", "2b", "--shapes", "gate_up"])  # fmt: skip
    (group,) = bench_kernels.sweep_groups(args)
    every = bench_kernels.sweep_candidates(group)
    default = default_config(W_INT8, 1, group[2], group[3], 128)
    sums = [c for c in every if c.kernel == "sum" and c != default]
    timed, short = sums[0], sums[1]  # one recorded whole, one in the nine-field form of the earliest sweeps
    assert tuple(short)[9:] == (False, False, False, 0)
    other_mode = row("int8", 1, list(sums[2]), 5.0, shape="gate_up")
    sweep = {"results": [row("int8-a16", 1, list(timed), 9.0, shape="gate_up"),
                         row("int8-a16", 1, list(short)[:9], 9.0, shape="gate_up"), other_mode]}  # fmt: skip
    (tmp_path / "run" / "call").mkdir(parents=True)
    (tmp_path / "run" / "call" / "bench_kernels_sweep.json").write_text(json.dumps(sweep))
    recorded = bench_kernels.recorded_tiles(tmp_path)
    kept = bench_kernels.sweep_candidates(group, new_only=True, recorded=recorded)
    assert default in kept and timed not in kept and short not in kept and sums[2] in kept
    assert set(kept) == {default} | (set(sums) - {timed, short})
    # the table's tile came from a sweep recorded in the repository's results folder (the default folder)
    assert ("2b", "gate_up", 1, "int8-a16", tuple(default)) in bench_kernels.recorded_tiles()
    prefill_group = (*group[:4], 300, group[5])
    assert bench_kernels.sweep_candidates(prefill_group, new_only=True) == bench_kernels.sweep_candidates(prefill_group)
    with pytest.raises(SystemExit):
        bench_kernels.parse_args(["--out", "x", "--sweep", "--new-only", "--frag-only"])
    assert "--ahead-only and --splits-only each keep one kind of tile: give one" in capsys.readouterr().err


def test_the_permute_free_int4_variant_runs_where_the_table_has_swapped_fragment_order_tiles():
    """``vlmq-xfrag`` (the table's 16-row int4 tile on rows stored in its K order: what the tile's per-tile
    activation permute costs) is timed at 16 rows only, where every shape's table tile is a swapped fragment-order
    one that divides K -- else ``gemv`` would refuse it and the case be lost on the device."""
    from vlmq.engine.kernels.gemv import W_INT4, check_frag_activations

    assert "vlmq-xfrag" in bench_kernels.decode_variants("int4-g128", "down", 16)
    assert "vlmq-xfrag" not in bench_kernels.decode_variants("int4-g128", "down", 1)
    assert "vlmq-xfrag" not in bench_kernels.decode_variants("int8-a16", "down", 16)
    for shapes in bench_kernels.SHAPES.values():
        for shape, (n, k) in shapes.items():
            if "vlmq-xfrag" in bench_kernels.decode_variants("int4-g128", shape, 16):
                check_frag_activations(default_config(W_INT4, 16, n, k, 128), W_INT4, k, False)  # raises if not


def test_main_keeps_the_table_function_reachable():
    """``main`` ends a timing run with ``table(records, ...)``; a local of that name anywhere in it (the
    ``--write-tiles`` branch read the shipped table into one from the twenty-first session on) made every timing
    run fail after its last case with UnboundLocalError (the fortieth session's call 6)."""
    assert "table" not in bench_kernels.main.__code__.co_varnames
    assert callable(bench_kernels.table)
