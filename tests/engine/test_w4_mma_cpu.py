"""The int4 tensor-core decode GEMV's selection on any machine (its arithmetic runs on a Hopper GPU only:
test_w4_mma_gpu.py): ``$VLMQ_W4_MMA`` and its one-line errors, the tile table's ``w4_mma`` entries, which calls the
kernel takes, that it never runs where it cannot, and (where nvcc is) its machine code's order of loads and PDL wait."""

import json

import pytest
import torch

from vlmq.engine.kernels import cutlass_gemm, pack_int4
from vlmq.engine.kernels.cutlass_gemm import W4GemvConfig, w4_gemv_fits
from vlmq.engine.kernels.gemv import (
    A_FLOAT,
    MMA_ENV,
    W_INT4,
    mma_choice,
    mma_config,
    mma_setting,
    mma_tile,
    mma_tiles_of,
    row_kernel_first,
)
from vlmq.errors import VlmqError


def test_the_setting_reads_off_a_configuration_or_nothing(monkeypatch):
    monkeypatch.delenv(MMA_ENV, raising=False)
    assert mma_setting() is None
    monkeypatch.setenv(MMA_ENV, "off")
    assert mma_setting() == "off"
    monkeypatch.setattr(cutlass_gemm, "w4_gemv_configs", lambda: {W4GemvConfig(2, 4, 2, True): 10})
    monkeypatch.setattr("vlmq.engine.kernels.gemv.w4_gemv_configs", cutlass_gemm.w4_gemv_configs)
    monkeypatch.setenv(MMA_ENV, "2,4,2,1")
    assert mma_setting() == W4GemvConfig(2, 4, 2, True)


@pytest.mark.parametrize("value", ["fast", "2,4,2", "2,4,2,1,0", "3,4,2,1"])
def test_a_bad_setting_is_refused_in_one_line_naming_the_fix(monkeypatch, value):
    monkeypatch.setattr("vlmq.engine.kernels.gemv.w4_gemv_configs", lambda: {W4GemvConfig(2, 4, 2, True): 10})
    monkeypatch.setenv(MMA_ENV, value)
    with pytest.raises(VlmqError) as err:
        mma_setting()
    message = str(err.value)
    assert "\n" not in message and MMA_ENV in message and "2,4,2,1" in message and "off" in message


def test_configs_round_trip_and_take_the_norm_first():
    tile = W4GemvConfig(2, 8, 4, False)
    for m, block_m in ((1, 8), (8, 8), (9, 16), (16, 16)):
        cfg = mma_config(tile, m)
        assert cfg.kernel == "mma" and cfg.block_m == block_m and cfg.block_n == 32
        assert mma_tile(cfg) == tile
    cfg = mma_config(tile, 1)
    assert row_kernel_first(cfg, W_INT4, A_FLOAT, smooth=False, norm=True, n=2048, k=1536)
    assert not row_kernel_first(cfg, W_INT4, A_FLOAT, smooth=False, norm=False, n=2048, k=1536)


def test_the_tile_table_entries_are_read_per_shape_and_row_bucket(tmp_path):
    table = {"w4_mma": [
        dict(n=2048, k=1536, m=1, shape="2b qkv", row_blocks=1, warps=4, in_flight=2, post=False, us=3.1),
        dict(n=2048, k=1536, m=16, shape="2b qkv", row_blocks=2, warps=8, in_flight=2, post=True, split=3, us=4.0),
    ]}  # fmt: skip
    path = tmp_path / "tiles.json"
    path.write_text(json.dumps(table))
    tiles = mma_tiles_of(path)
    want = {(2048, 1536, 1): (W4GemvConfig(1, 4, 2, False), 1), (2048, 1536, 16): (W4GemvConfig(2, 8, 2, True), 3)}
    assert tiles == want
    assert mma_config(*tiles[(2048, 1536, 16)][:1], 16, tiles[(2048, 1536, 16)][1]).split_k == 3


def test_which_calls_the_kernel_takes():
    x = torch.zeros(16, 1536, dtype=torch.bfloat16)
    w = pack_int4(torch.zeros(64, 1536, dtype=torch.int8))
    s, z = torch.ones(64, 12, dtype=torch.bfloat16), torch.zeros(64, 12, dtype=torch.int8)
    plain, post = W4GemvConfig(1, 4, 2, False), W4GemvConfig(1, 4, 2, True)
    assert w4_gemv_fits(x[:1], w, s, z, 128, plain) and w4_gemv_fits(x, w, s, None, 128, post)
    assert w4_gemv_fits(x, w, s, z, 32, plain) and not w4_gemv_fits(x, w, s, z, 32, post)  # post: groups of 128
    assert not w4_gemv_fits(torch.zeros(17, 1536, dtype=torch.bfloat16), w, s, z, 128, plain)  # 16 rows at most
    assert not w4_gemv_fits(x.float(), w, s, z, 128, plain)
    assert not w4_gemv_fits(x, w, s.float(), z, 128, plain)  # the kernel reads bf16 scales, int8 zero points
    assert not w4_gemv_fits(x, w, s, z.int(), 128, plain)
    assert not w4_gemv_fits(x, w, s, z, 96, plain)  # a group that is not a power of two
    assert not w4_gemv_fits(x[:, 8:], w[:, 1:], s, z, 128, plain)  # rows not 16-byte aligned


def test_it_never_runs_off_a_hopper_gpu(monkeypatch):
    """On a CPU tensor (or with no library) the choice falls back to the Triton kernels, whatever the setting."""
    monkeypatch.setenv(MMA_ENV, "off")
    x = torch.zeros(1, 1536, dtype=torch.bfloat16)
    w = pack_int4(torch.zeros(64, 1536, dtype=torch.int8))
    s = torch.ones(64, 12, dtype=torch.bfloat16)
    assert mma_choice(x, w, s, None, 128, torch.bfloat16, 64, 1536) is None
    monkeypatch.delenv(MMA_ENV)
    assert mma_choice(x, w, s, None, 128, torch.bfloat16, 64, 1536) is None


def test_the_ctypes_signature_matches_the_c_prototype():
    """Each parameter of ``vlmq_w4_gemv`` in cutlass/w4_gemv.cu has its ctypes type, pointers as pointers and the
    row strides as 64-bit (an argument past the typed list goes as a C int: a stream handle cut to 32 bits)."""
    import ctypes
    import re

    source = (cutlass_gemm.SOURCES[-1]).read_text()
    params = re.search(r"int vlmq_w4_gemv\(([^)]*)\)", source).group(1).split(",")
    kinds = {"int": ctypes.c_int, "long long": ctypes.c_longlong}
    want = [ctypes.c_void_p if "*" in p or "cudaStream_t" in p else kinds[p.rsplit(" ", 1)[0].strip()] for p in params]
    assert cutlass_gemm.W4_GEMV_ARGTYPES == want


def test_calls_the_kernel_cannot_take_are_refused_in_one_line():
    """A tensor-core config on weights that are not int4, and a split-K launch without its semaphores: one-line
    errors naming the fix, before anything launches."""
    from vlmq.engine.kernels.gemv import gemv

    x = torch.zeros(1, 256, dtype=torch.bfloat16)
    with pytest.raises(VlmqError) as err:
        gemv(x, torch.zeros(64, 256, dtype=torch.bfloat16), config=mma_config(W4GemvConfig(1, 4, 2, False), 1))
    assert "\n" not in str(err.value) and "pick another config" in str(err.value)
    w = pack_int4(torch.zeros(64, 256, dtype=torch.int8))
    s = torch.ones(64, 2, dtype=torch.bfloat16)
    with pytest.raises(ValueError) as err:
        cutlass_gemm.w4_gemv(x, w, s, None, 128, None, None, False, W4GemvConfig(1, 4, 2, False), False, split=2)
    assert "\n" not in str(err.value) and "semaphores=" in str(err.value)


def w4_gemv_sass(tmp_path) -> dict[str, list[str]]:
    """Each kernel of cutlass/w4_gemv.cu as nvcc compiles it for sm_90a: its SASS instructions in order (skips where
    nvcc or a cuobjdump is missing, as on the CI machine: the check then runs where the library is built)."""
    import os
    import re
    import shutil
    import subprocess

    nvcc = shutil.which("nvcc")
    triton = pytest.importorskip("triton")
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    if nvcc is None or not os.path.exists(cuobjdump):
        pytest.skip("nvcc and cuobjdump are needed to compile and read the kernel's machine code")
    source = cutlass_gemm.SOURCES[-1]
    assert source.name == "w4_gemv.cu"
    cubin = tmp_path / "w4.cubin"
    subprocess.run([nvcc, "-std=c++17", "-O3", "-arch=sm_90a", "-cubin", str(source), "-o", str(cubin)], check=True)
    sass = subprocess.run([cuobjdump, "-sass", str(cubin)], capture_output=True, text=True, check=True).stdout
    kernels, name = {}, None
    for line in sass.splitlines():
        if "Function :" in line:
            name = line.split("Function :")[1].strip()
            kernels[name] = []
        elif name and (m := re.match(r"\s+/\*[0-9a-f]{4,}\*/\s+(.*?)\s*;", line)):
            kernels[name].append(m.group(1))
    return kernels


def test_activations_are_read_after_the_pdl_wait_and_never_as_read_only_memory(tmp_path):
    """Under programmatic dependent launch a kernel starts while the previous one still writes its activations:
    only the weights (read-only for the whole run) may be loaded before griddepcontrol.wait (SASS ACQBULK). ptxas
    moves a ld.global.nc (read-only to it) above the wait: a form of this kernel whose activation loads were .nc
    passed every unit test and changed the engine's greedy answers on the H200 (docs/benchmarks.md, thirtieth
    session). So: no coherent load before the wait, and no 128-bit read-only load that is not a streamed weight."""
    kernels = w4_gemv_sass(tmp_path)
    assert len(kernels) >= 16  # every configuration, one and two activation row blocks
    for name, code in kernels.items():
        waits = [i for i, ins in enumerate(code) if "ACQBULK" in ins]
        assert waits, f"{name}: no griddepcontrol.wait"
        loads = [(i, ins.split()[1] if ins.startswith("@") else ins.split()[0]) for i, ins in enumerate(code)]
        loads = [(i, op) for i, op in loads if op.startswith("LDG")]
        early = [op for i, op in loads if i < waits[0] and ".CONSTANT" not in op]
        assert not early, f"{name}: {early} before the PDL wait"
        read_only_wide = [op for _, op in loads if op.startswith("LDG.E.128.CONSTANT")]
        assert not read_only_wide, f"{name}: activations through read-only loads ({read_only_wide[:2]})"
