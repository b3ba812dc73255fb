"""The decode-rows GEMM probe (``benchmarks/bench_decode_gemm.py``): its table compares the best timed library tile
with the engine's GEMV per shape (tiles not timed never win), lists refused or wrong tiles, and a mode the library
has no GEMM for is refused in one line naming the choices."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_decode_gemm  # noqa: E402


def rec(us, tile=None, note=None, m=1):
    row = dict(preset="7b", shape="down", n=3584, k=18944, m=m, mode="int8-a16", us=us, us_min=us, us_max=us)
    if tile is None:
        return row | dict(variant="gemv")
    return row | dict(variant="cutlass", tile=tile, tile_shape=[128, 16, 1, 128], note=note)


def test_table_takes_the_fastest_timed_tile_and_lists_the_rest():
    records = [rec(20.0), rec(None, 3, note="wrong output"), rec(25.0, 1), rec(16.0, 14), rec(30.0, m=16)]
    table = bench_decode_gemm.table(records)
    one_row = next(line for line in table.splitlines() if line.startswith("| 7b | down | int8-a16 | 1 |"))
    assert "| 14 (128, 16, 1, 128) | 16.00 (16.00–16.00) |" in one_row and one_row.endswith("| 0.800 |")
    bytes_ = 3584 * 18944 + 4 * 3584
    assert f"| {bytes_ / 20.0 / 1e6:.2f} |" in one_row
    sixteen = next(line for line in table.splitlines() if line.startswith("| 7b | down | int8-a16 | 16 |"))
    assert sixteen.endswith("| - | - | - | - |")  # no tile timed at 16 rows
    assert "tile 3: wrong output" in table


def test_unknown_mode_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench_decode_gemm.main(["--out", str(tmp_path), "--modes", "int8-a16,bf16"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--modes bf16" in err and "int4-g128" in err


def test_a_run_is_saved_with_its_environment_and_table(tmp_path, capsys):
    pytest.importorskip("triton")  # bench_kernels.environment names the Triton version
    import json

    from bench_kernels import save_run

    records = [rec(20.0), rec(16.0, 14)]
    text = bench_decode_gemm.table(records)
    save_run(tmp_path / "run", "bench_decode_gemm", records, text)
    saved = json.loads((tmp_path / "run" / "bench_decode_gemm.json").read_text())
    assert saved["records"] == records and "triton" in saved["env"]
    assert (tmp_path / "run" / "table.md").read_text() == text + "\n" and text in capsys.readouterr().out
