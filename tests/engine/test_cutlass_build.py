"""The CUTLASS library's build and loading logic (CPU): where it is looked for, how it is compiled, what a
machine without it is told, and that the engine then keeps its dequantize-then-cuBLAS prefill."""

from pathlib import Path

import pytest
import torch

from vlmq.engine.kernels import cutlass_gemm
from vlmq.engine.kernels.prefill import PATHS, cutlass_runs


def test_library_is_named_by_its_source_digest(monkeypatch, tmp_path):
    monkeypatch.delenv(cutlass_gemm.LIB_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = cutlass_gemm.library_path()
    assert path.parent == tmp_path / "vlmq" / "cutlass"
    assert cutlass_gemm.source_digest() in path.name and len(cutlass_gemm.source_digest()) == 12
    monkeypatch.setenv(cutlass_gemm.LIB_ENV, str(tmp_path / "lib.so"))
    assert cutlass_gemm.library_path() == tmp_path / "lib.so"


def test_the_digest_covers_the_shared_header(monkeypatch, tmp_path):
    """A change to the header both sources include names another library, as a change to either source does."""
    before = cutlass_gemm.source_digest()
    header = tmp_path / "gemm_common.cuh"
    header.write_bytes(cutlass_gemm.HEADERS[0].read_bytes())
    monkeypatch.setattr(cutlass_gemm, "HEADERS", (header,))
    assert cutlass_gemm.source_digest() == before
    header.write_bytes(header.read_bytes() + b"// changed\n")
    assert cutlass_gemm.source_digest() != before


def test_nvcc_command_targets_hopper_and_both_include_trees(tmp_path):
    for source in cutlass_gemm.SOURCES:
        cmd = cutlass_gemm.nvcc_command("nvcc", tmp_path, tmp_path / "out.o", source)
        assert "-arch=sm_90a" in cmd and "-c" in cmd and "-Xcompiler=-fPIC" in cmd
        assert f"-I{tmp_path / 'include'}" in cmd and f"-I{tmp_path / 'tools' / 'util' / 'include'}" in cmd
        assert cmd[-2:] == ["-o", str(tmp_path / "out.o")] and str(source) in cmd
    link = cutlass_gemm.link_command("nvcc", [tmp_path / "a.o", tmp_path / "b.o"], tmp_path / "lib.so")
    assert "-shared" in link and "-Xcompiler=-static-libstdc++" in link
    assert link[-2:] == ["-o", str(tmp_path / "lib.so")]
    assert str(tmp_path / "a.o") in link and str(tmp_path / "b.o") in link


def test_every_source_is_compiled_and_linked_into_one_library(monkeypatch, tmp_path):
    """A stand-in nvcc records its command lines: one compile per source (to objects), then one link of them all;
    the objects are removed and the library appears only after the link."""
    (tmp_path / "include" / "cutlass").mkdir(parents=True)
    monkeypatch.setenv(cutlass_gemm.CUTLASS_ENV, str(tmp_path))
    log = tmp_path / "calls"
    nvcc = tmp_path / "nvcc"
    nvcc.write_text(f'#!/bin/sh\necho "$@" >> {log}\nfor last; do :; done\ntouch "$last"\n')
    nvcc.chmod(0o755)
    out = cutlass_gemm.build_library(tmp_path / "lib.so", nvcc=str(nvcc))
    calls = log.read_text().splitlines()
    assert out == tmp_path / "lib.so" and out.exists()
    compiles, link = calls[:-1], calls[-1]
    assert len(compiles) == len(cutlass_gemm.SOURCES) == 3  # the two CUTLASS GEMMs and the int4 GEMV
    assert sorted(c.split(" -o ")[0].split()[-1] for c in compiles) == sorted(map(str, cutlass_gemm.SOURCES))
    assert "-shared" in link and all(c.split(" -o ")[1] in link for c in compiles)
    assert not list(tmp_path.glob("*.o"))


def test_build_without_headers_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(cutlass_gemm.CUTLASS_ENV, "")
    monkeypatch.setattr(cutlass_gemm, "cutlass_root", lambda: None)
    fake_nvcc = tmp_path / "nvcc"
    fake_nvcc.write_text("")
    with pytest.raises(RuntimeError, match="pip install --no-deps nvidia-cutlass"):
        cutlass_gemm.build_library(tmp_path / "lib.so", nvcc=str(fake_nvcc))
    with pytest.raises(RuntimeError, match="nvcc not found"):
        cutlass_gemm.build_library(tmp_path / "lib.so", nvcc=str(tmp_path / "missing-nvcc"))


def test_a_failed_compile_leaves_no_library(monkeypatch, tmp_path):
    (tmp_path / "include" / "cutlass").mkdir(parents=True)
    monkeypatch.setenv(cutlass_gemm.CUTLASS_ENV, str(tmp_path))
    failing = tmp_path / "nvcc"
    failing.write_text("#!/bin/sh\necho 'mixed_gemm.cu(1): error: no such header' >&2\nexit 2\n")
    failing.chmod(0o755)
    out = tmp_path / "lib.so"
    with pytest.raises(RuntimeError, match="nvcc failed .*no such header"):
        cutlass_gemm.build_library(out, nvcc=str(failing))
    assert not out.exists() and not list(tmp_path.glob("*.o"))


def test_a_library_from_older_source_is_refused_with_the_rebuild_command(monkeypatch, tmp_path):
    """A ``$VLMQ_CUTLASS_LIB`` built before the W8A8 GEMMs existed (no ``vlmq_w8a8_*`` symbols) is not loaded: the
    reason names the rebuild, and nothing fails later on a missing symbol."""

    class OldLibrary:
        def __getattr__(self, name):
            if "w8a8" in name:
                raise AttributeError(name)
            return type("Fn", (), {})()

    lib = tmp_path / "old.so"
    lib.write_bytes(b"")
    monkeypatch.setenv(cutlass_gemm.LIB_ENV, str(lib))
    monkeypatch.setattr(cutlass_gemm.ctypes, "CDLL", lambda path: OldLibrary())
    cutlass_gemm._library.cache_clear()
    try:
        assert cutlass_gemm._library() is None
        monkeypatch.setattr(cutlass_gemm.torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(cutlass_gemm.torch.cuda, "get_device_capability", lambda device=None: (9, 0))
        reason = cutlass_gemm.unavailable_reason()
        assert "built from older source" in reason and "cutlass_build --build" in reason
    finally:
        cutlass_gemm._library.cache_clear()


def test_a_library_whose_tiles_report_no_k_depth_is_refused(monkeypatch, tmp_path):
    """A library built before the tile ABI reported K depths answers ``tile_shape`` with three values (the fourth
    stays 0): its int4 tiles could not be matched to group sizes, so it is not loaded either; today's ABI is."""

    class Fn:
        def __init__(self, dims):
            self.dims = dims

        def __call__(self, tile, *pointers):
            for pointer, value in zip(pointers, self.dims):
                pointer._obj.value = value
            return 0

    def library(dims):
        return type("Library", (), {"__getattr__": lambda self, name: Fn(dims)})()

    path = tmp_path / "lib.so"
    path.write_bytes(b"")
    monkeypatch.setenv(cutlass_gemm.LIB_ENV, str(path))
    try:
        for dims, loads in (((128, 128, 1), False), ((128, 128, 1, 64), True)):
            monkeypatch.setattr(cutlass_gemm.ctypes, "CDLL", lambda p, dims=dims: library(dims))
            cutlass_gemm._library.cache_clear()
            assert (cutlass_gemm._library() is not None) == loads, dims
    finally:
        cutlass_gemm._library.cache_clear()


def test_without_a_gpu_the_reason_is_given_and_prefill_keeps_its_path(monkeypatch, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CPU-only check")
    assert cutlass_gemm.unavailable_reason() == "no CUDA device"
    x = torch.randn(40, 64).bfloat16()
    w = torch.randint(-127, 128, (32, 64), dtype=torch.int8)
    assert not cutlass_runs(x, w)
    assert "cutlass" in PATHS["w8a16"] and "cutlass" in PATHS["w4a16"]
    monkeypatch.setenv(cutlass_gemm.LIB_ENV, str(tmp_path / "absent.so"))
    cutlass_gemm._library.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="not built: python -m vlmq.engine.kernels.cutlass_build --build"):
            cutlass_gemm.w8a16_gemm(x, w, torch.ones(32), None)
    finally:
        cutlass_gemm._library.cache_clear()


def test_status_command_reports_how_to_build(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv(cutlass_gemm.LIB_ENV, str(tmp_path / "absent.so"))
    from vlmq.engine.kernels import cutlass_build

    assert cutlass_build.main([]) == 0
    said = capsys.readouterr().out
    assert "no CUDA device" in said or "--build" in said
    assert all(Path(source).exists() for source in cutlass_gemm.SOURCES + cutlass_gemm.HEADERS)


def tile(token_rows: int, cluster: int = 1, depth: int = 64) -> tuple[int, int, int, int]:
    """A tile_shape answer: 128 weight rows, ``token_rows``, the cluster along the tokens, the K depth."""
    return 128, token_rows, cluster, depth


def test_pick_tile_pads_the_rows_least_then_follows_the_measured_preference():
    shapes = {0: tile(128), 1: tile(64), 2: tile(192), 3: tile(256), 5: tile(128, cluster=2)}
    preference = cutlass_gemm.TILE_PREFERENCE["w8a16"]
    for m in (1, 60, 77, 128, 200, 300, 512, 1029):
        padded = {t: -(-m // (tr * cl)) * tr * cl for t, (_, tr, cl, _) in shapes.items()}
        least = min(padded.values())
        chosen = cutlass_gemm.pick_tile(m, shapes)
        assert padded[chosen] == least
        assert chosen == min((t for t in shapes if padded[t] == least), key=preference.index)
    assert cutlass_gemm.pick_tile(300, shapes) == 1  # 320 rows in five tiles of 64; 128 or 256 pad to 384 or 512
    assert cutlass_gemm.pick_tile(300, {t: v for t, v in shapes.items() if t != 1}) in (0, 2)  # 384: not the cluster


def test_pick_tile_leaves_unranked_decode_tiles_to_the_tile_table():
    """A 16-token tile pads any row count least, but one the preference does not rank is never picked by padding
    while a ranked tile exists; alone, it is."""
    shapes = {0: tile(128), 1: tile(64), 99: tile(16, depth=128)}
    for m in (1, 16, 300):
        assert cutlass_gemm.pick_tile(m, shapes) != 99
    assert cutlass_gemm.pick_tile(1, {99: shapes[99]}) == 99


def test_pick_tile_keeps_int4_groups_whole_in_a_k_tile():
    """An int4 tile 128 deep in K runs only groups of 128k (CUTLASS loads one scale per K tile): a group-64 pack
    never gets one, a group-128 pack may."""
    shapes = {0: tile(128), 1: tile(64), 3: tile(192), 5: tile(128, depth=128), 6: tile(192, depth=128)}
    deep = {5: shapes[5], 6: shapes[6]}
    assert cutlass_gemm.pick_tile(300, deep, "w4a16", group_size=128) in (5, 6)
    assert cutlass_gemm.pick_tile(300, {**deep, 1: shapes[1]}, "w4a16", group_size=64) == 1
    for m in (1, 77, 300, 1029):
        for group in (64, 128, 256):
            assert group % shapes[cutlass_gemm.pick_tile(m, shapes, "w4a16", group_size=group)][3] == 0


class FakeLibrary:
    """Stands in for the built library: records each GEMM call's arguments (the C ABI's order) and answers 0."""

    def __init__(self, code=0):
        self.calls, self.code = [], code

    def __getattr__(self, name):
        if name.endswith("_gemm"):
            return lambda *args: self.calls.append((name, args)) or self.code
        if name.endswith("_tiles"):
            return lambda: 3
        if name.endswith("_tile_shape"):
            return lambda tile, *dims: 1  # the library's answer for a tile it does not have
        raise AttributeError(name)


def test_launchers_pass_the_c_abi_arguments_in_order(monkeypatch):
    """What vlmq_w8a16_gemm / vlmq_w4a16_gemm receive (mixed_gemm.cu's signatures): tile, x, w, the format's
    operands (int8: fp32 scale; int4: the transposed scale and zero terms, then the group), bias (None = null), out,
    M, N, K, workspace, its bytes, stream; and a nonzero code becomes a one-line error naming it."""
    fake = FakeLibrary()
    monkeypatch.setattr(cutlass_gemm, "_library", lambda: fake)
    monkeypatch.setattr(cutlass_gemm, "_workspace", lambda device: torch.empty(64, dtype=torch.uint8))
    x = torch.randn(5, 64).bfloat16()
    w8 = torch.randint(-127, 128, (16, 64), dtype=torch.int8)
    out = cutlass_gemm.w8a16_gemm(x, w8, torch.ones(16, dtype=torch.bfloat16), None, tile=2)
    name, args = fake.calls[-1]
    assert name == "vlmq_w8a16_gemm" and len(args) == 12
    assert args[0] == 2 and args[1] == x.data_ptr() and args[2] == w8.data_ptr() and args[4] is None
    assert args[5] == out.data_ptr() and args[6:9] == (5, 16, 64) and args[10] == 64 and args[11] is None
    assert out.shape == (5, 16) and out.dtype == torch.bfloat16

    packed = torch.zeros(16, 8, dtype=torch.int32)
    scale = torch.rand(16, 2).bfloat16()
    zero = torch.randint(-8, 8, (16, 2), dtype=torch.int8)
    bias = torch.randn(16).bfloat16()
    terms = cutlass_gemm.w4_group_terms(scale, zero)
    cutlass_gemm.w4a16_gemm(x, packed, scale, zero, 32, bias, tile=1, terms=terms)
    name, args = fake.calls[-1]
    assert name == "vlmq_w4a16_gemm" and len(args) == 14
    assert args[3] == terms[0].data_ptr() and args[4] == terms[1].data_ptr() and args[5] == 32
    assert args[6] is not None and args[8:11] == (5, 16, 64)
    assert terms[0].shape == (2, 16) and torch.equal(
        terms[1].float(), (-(zero.float() + 8) * scale.float()).bfloat16().t().float()
    )

    xq = torch.randn(5, 64).to(torch.float8_e4m3fn)
    wq = torch.randn(16, 64).to(torch.float8_e4m3fn)
    wscale, xscale = torch.rand(16), torch.rand(5)
    out = cutlass_gemm.w8a8_gemm(xq, wq, wscale, xscale, bias, tile=4)
    name, args = fake.calls[-1]
    assert name == "vlmq_w8a8_fp8_gemm" and len(args) == 13 and args[0] == 4
    assert args[1:3] == (xq.data_ptr(), wq.data_ptr()) and args[3] == wscale.data_ptr()
    assert args[4] == xscale.data_ptr() and args[5] is not None and args[6] == out.data_ptr()
    assert args[7:10] == (5, 16, 64)
    cutlass_gemm.w8a8_gemm(xq.view(torch.int8), wq.view(torch.int8), wscale, xscale, None, tile=0)
    assert fake.calls[-1][0] == "vlmq_w8a8_int8_gemm" and fake.calls[-1][1][5] is None

    fake.code = 3
    with pytest.raises(RuntimeError, match=r"CUTLASS w8a16 GEMM \[5, 64\] x \[16, 64\] tile 0: shape not supported"):
        cutlass_gemm.w8a16_gemm(x, w8, torch.ones(16), None, tile=0)


def test_wrong_operand_types_and_unknown_tiles_are_one_line_errors(monkeypatch):
    """A GEMM called with other dtypes says which it takes; a tile the library lacks says how many it has."""
    monkeypatch.setattr(cutlass_gemm, "_library", lambda: FakeLibrary())
    x = torch.randn(5, 64)  # float32, not bf16
    with pytest.raises(ValueError, match="w8a16_gemm takes bf16 rows and int8 weights, got torch.float32"):
        cutlass_gemm.w8a16_gemm(x, torch.zeros(16, 64, dtype=torch.int8), torch.ones(16), None)
    with pytest.raises(ValueError, match="w4a16_gemm takes bf16 rows and int32-packed int4 weights"):
        cutlass_gemm.w4a16_gemm(x.bfloat16(), torch.zeros(16, 64, dtype=torch.int8), torch.ones(16, 2), None, 32, None)
    with pytest.raises(
        ValueError, match="w8a8_gemm takes e4m3 x e4m3 or int8 x int8, got torch.float8_e4m3fn x torch.int8"
    ):
        fp8 = torch.zeros(5, 64).to(torch.float8_e4m3fn)
        cutlass_gemm.w8a8_gemm(fp8, torch.zeros(16, 64, dtype=torch.int8), torch.ones(16), torch.ones(5), None)
    cutlass_gemm.tile_shape.cache_clear()
    try:
        with pytest.raises(ValueError, match="no CUTLASS w8a16 tile 99 \\(the library has 3\\)"):
            cutlass_gemm.tile_shape(99)
    finally:
        cutlass_gemm.tile_shape.cache_clear()


def test_fp8_weights_with_bf16_rows_have_no_cutlass_prefill_path():
    """CUTLASS's mixed-input GEMM reads int8 or int4 weights: an FP8 weight with bf16 rows lists no CUTLASS path, and
    asking for one is refused in one line naming the paths there are (not a kernel's dtype error)."""
    from vlmq.engine.kernels.gemv import W_FP8, W_INT4, W_INT8
    from vlmq.engine.kernels.prefill import prefill_linear, prefill_paths

    assert "cutlass" not in prefill_paths("w8a16", W_FP8)
    assert "cutlass" in prefill_paths("w8a16", W_INT8) and "cutlass" in prefill_paths("w4a16", W_INT4)
    assert prefill_paths("w8a8_fp8", W_FP8) == PATHS["w8a8_fp8"]
    x = torch.randn(4, 64).bfloat16()
    w = torch.randn(32, 64).to(torch.float8_e4m3fn)
    with pytest.raises(ValueError, match="'cutlass' is not one of .*'dequant'.* for w8a16 with torch.float8_e4m3fn"):
        prefill_linear(x, w, torch.ones(32), None, 0, None, None, torch.bfloat16, path="cutlass")


def test_the_shuffle_entry_points_take_their_c_prototypes(monkeypatch, tmp_path):
    """``vlmq_w4a16s_gemm`` and ``vlmq_w4_shuffle`` in cutlass/mixed_gemm.cu get ctypes types parameter by parameter
    (pointers as pointers; a stream past a typed list would go as a 32-bit int), and a library without the shuffle
    (built from older source) is not loaded."""
    import re

    source = cutlass_gemm.SOURCES[0].read_text().replace("\\\n", " ")  # macro lines joined
    kinds = {"int": cutlass_gemm.ctypes.c_int, "size_t": cutlass_gemm.ctypes.c_size_t}

    def prototype(name):  # the int4 GEMMs' prototype is VLMQ_W4_GEMM_ABI's, vlmq_##NAME##_gemm
        pattern = "vlmq_##NAME##_gemm" if name.endswith("_gemm") else name
        params = re.search(rf"int {pattern}\(([^)]*)\)", source).group(1).split(",")
        return [
            cutlass_gemm.ctypes.c_void_p if "*" in p or "cudaStream_t" in p else kinds[p.rsplit(" ", 1)[0].strip()]
            for p in params
        ]

    class Fn:
        argtypes = restype = None

        def __call__(self, tile, *pointers):
            for pointer, value in zip(pointers, (128, 192, 1, 64)):
                pointer._obj.value = value
            return 0

    class Library:
        def __init__(self, missing=()):
            self.missing, self.fns = missing, {}

        def __getattr__(self, name):
            if name in self.missing:
                raise AttributeError(name)
            return self.fns.setdefault(name, Fn())

    path = tmp_path / "lib.so"
    path.write_bytes(b"")
    monkeypatch.setenv(cutlass_gemm.LIB_ENV, str(path))
    try:
        libraries = {(): Library(), ("vlmq_w4_shuffle",): Library(("vlmq_w4_shuffle",))}
        for missing, lib in libraries.items():
            monkeypatch.setattr(cutlass_gemm.ctypes, "CDLL", lambda p, lib=lib: lib)
            cutlass_gemm._library.cache_clear()
            assert (cutlass_gemm._library() is not None) == (not missing), missing
        for name in ("vlmq_w4a16_gemm", "vlmq_w4a16s_gemm", "vlmq_w4_shuffle"):
            assert libraries[()].fns[name].argtypes == prototype(name), name
    finally:
        cutlass_gemm._library.cache_clear()


@pytest.mark.parametrize(
    "case, match",
    [("dtype", "int32 weights, got torch.int8"), ("rows", "N a multiple of 16"), ("cols", "K of 64")],
)
def test_weights_the_shuffle_cannot_take_are_refused_in_one_line(case, match):
    """Checked before the library is needed (so also without a GPU): a one-line ValueError naming the fix."""
    from vlmq.engine.kernels import pack_int4

    weights = {
        "dtype": torch.zeros(16, 8, dtype=torch.int8),
        "rows": pack_int4(torch.zeros(24, 64, dtype=torch.int8)),
        "cols": pack_int4(torch.zeros(16, 32, dtype=torch.int8)),
    }
    with pytest.raises(ValueError, match=match) as err:
        cutlass_gemm.w4_shuffle(weights[case])
    assert "\n" not in str(err.value)


def fragment_order_layout(n: int, k: int) -> torch.Tensor:
    """[N, K] -> the nibble index each value takes in the shuffled layout, restated from the PTX ISA's wgmma register
    fragment of a 16-bit A operand (thread T of a warp holds a0..a7 at rows T / 4 (+ 8 for a2, a3, a6, a7) and columns
    2 (T % 4) + (0, 1) (+ 8 for a4..a7)) and CUTLASS's example 55 (a thread's eight values contiguous in the register
    order 0, 2, 4, 6, 1, 3, 5, 7; 16 x 16 atoms, N-block fastest), element by element."""
    where = torch.empty(n, k, dtype=torch.int64)
    order = (0, 2, 4, 6, 1, 3, 5, 7)
    for nb in range(n // 16):
        for kb in range(k // 16):
            base = 256 * (nb + (n // 16) * kb)
            for thread in range(32):
                for slot, reg in enumerate(order):
                    row = thread // 4 + 8 * ((reg // 2) % 2)
                    col = 2 * (thread % 4) + reg % 2 + 8 * (reg // 4)
                    where[16 * nb + row, 16 * kb + col] = base + 8 * thread + slot
    return where


@pytest.mark.parametrize(
    "out", [torch.zeros(16, 8, dtype=torch.int64), torch.zeros(32, 8, dtype=torch.int32), torch.zeros(8, 16).int().t()]
)
def test_an_out_the_shuffle_cannot_fill_is_refused_in_one_line(out):
    """A wrong dtype, shape or a strided view: refused before anything is written (the kernel writes out's words
    by offset), in one line naming the fix."""
    packed = torch.zeros(16, 8, dtype=torch.int32)
    before = out.clone()
    with pytest.raises(ValueError, match="contiguous int32") as err:
        cutlass_gemm.w4_shuffle(packed, out=out)
    assert "\n" not in str(err.value) and torch.equal(out, before)


def test_the_shuffle_puts_each_value_where_the_wgmma_fragment_reads_it():
    """``w4_shuffle_reference`` (the layout the Triton kernel writes, checked against CUTLASS's reorder on the GPU) is
    the fragment order above: every nibble at its index."""
    from vlmq.engine.kernels import pack_int4

    n, k = 32, 64
    values = torch.randint(-8, 8, (n, k), dtype=torch.int8, generator=torch.Generator().manual_seed(3))
    shuffled = cutlass_gemm.w4_shuffle_reference(pack_int4(values))
    nibbles = ((shuffled.view(-1, 1) >> (torch.arange(8, dtype=torch.int32) * 4)) & 0xF).view(-1)
    assert torch.equal(nibbles[fragment_order_layout(n, k)], values.to(torch.int32) + 8)


def test_the_shuffled_twins_are_the_source_rows_of_the_same_tile():
    """``W4_SHUFFLED_TWINS`` pairs each VLMQ_W4S_TILES row with the VLMQ_W4_TILES row of the same tile shape,
    schedule, epilogue, cluster and scheduler (read from cutlass/mixed_gemm.cu), every shuffled tile once."""
    import re

    source = (Path(cutlass_gemm.__file__).parent / "cutlass" / "mixed_gemm.cu").read_text()

    def rows(macro: str, gemm: str) -> dict[int, str]:
        body = source[source.index(f"#define {macro}(X)") :].split("\n\n")[0]
        return {int(i): rest for i, rest in re.findall(rf"X\((\d+), (.*?{gemm}<.*)\)\s*\\?$", body, re.M)}

    packed, shuffled = rows("VLMQ_W4_TILES", "W4Gemm"), rows("VLMQ_W4S_TILES", "W4ShuffledGemm")
    assert sorted(cutlass_gemm.W4_SHUFFLED_TWINS.values()) == sorted(shuffled)
    for tile, twin in cutlass_gemm.W4_SHUFFLED_TWINS.items():
        assert packed[tile].replace("W4Gemm", "W4ShuffledGemm") == shuffled[twin], (tile, twin)
