"""benchmarks/device_call.sh, the preamble a device call's command.sh sources, run here in bash with a stand-in
nvidia-smi: what it gives the call (budget, results folder, environment) and what comes back in $OUT."""

import os
import pathlib
import shutil
import subprocess
import tarfile

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "device_call.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run_call(root: pathlib.Path, body: str, call: str) -> dict:
    """Source the preamble in ``root`` (standing for the repository root), run ``body``, return what it echoed."""
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H200, 580.00'\n")
    smi.chmod(0o755)
    out = root / "out"
    out.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "OUT": str(out), "BUDGET": "100", "CALL": call}
    env.pop("VLMQ_CUTLASS_LIB", None)
    script = f". {SCRIPT}\n{body}\n"
    done = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def stand_in(root: pathlib.Path, script: str, status: int) -> None:
    """benchmarks/``script`` under ``root``, standing in for a benchmark: it prints a line of the image's import
    noise (which the helpers filter) and its arguments, and exits with ``status``."""
    path = root / "benchmarks" / script
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f"import sys\nprint('quant_api: import noise')\nprint('args', ' '.join(sys.argv[1:]))\nsys.exit({status})\n"
    )


def test_a_call_gets_its_budget_folder_and_environment_and_its_results_come_back(tmp_path):
    call = f"test_{os.getpid()}"
    seen = run_call(
        tmp_path,
        "echo left=$(left); echo R=$R; echo PYTHONPATH=$PYTHONPATH; echo LIB=${VLMQ_CUTLASS_LIB:-none}\n"
        'echo "a figure" > $R/speed.log; finish_call',
        call,
    )
    assert 90 <= int(seen["left"]) <= 100
    assert seen["R"] == f"/tmp/r_{call}"
    assert seen["PYTHONPATH"] == f"/tmp/site:{tmp_path}/src"
    assert seen["LIB"] == "none"  # no library built here: the engine keeps its library paths
    assert (tmp_path / "out" / "device.txt").read_text() == "NVIDIA H200, 580.00\n"
    with tarfile.open(tmp_path / "out" / "results.tgz") as tgz:
        assert tgz.extractfile(f"r_{call}/speed.log").read() == b"a figure\n"
    shutil.rmtree(seen["R"])


def test_a_built_cutlass_library_is_exported_and_a_stale_folder_is_emptied(tmp_path):
    call = f"test_lib_{os.getpid()}"
    (tmp_path / "build" / "cutlass").mkdir(parents=True)
    (tmp_path / "build" / "cutlass" / "libvlmq_mixed_gemm.so").write_bytes(b"")
    stale = pathlib.Path(f"/tmp/r_{call}")
    stale.mkdir(exist_ok=True)
    (stale / "old.log").write_text("an earlier call's")
    seen = run_call(tmp_path, "echo LIB=$VLMQ_CUTLASS_LIB; echo files=$(ls $R | wc -l); finish_call", call)
    assert seen["LIB"] == f"{tmp_path}/build/cutlass/libvlmq_mixed_gemm.so"
    assert seen["files"] == "0"
    shutil.rmtree(stale)


def pack_library(root: pathlib.Path) -> None:
    """A stand-in CUTLASS library ("a library") packed as a call carries it: ``root``/build/packed/libs.tar.xz."""
    lib = root / "staging" / "cutlass" / "libvlmq_mixed_gemm.so"
    lib.parent.mkdir(parents=True)
    lib.write_bytes(b"a library")
    (root / "build" / "packed").mkdir(parents=True)
    with tarfile.open(root / "build" / "packed" / "libs.tar.xz", "w:xz") as xz:
        xz.add(lib, arcname="cutlass/libvlmq_mixed_gemm.so")


def test_a_packed_library_is_unpacked_and_exported(tmp_path):
    """A call that carries build/packed/libs.tar.xz (the tracked tree leaves no room for build/ unpacked) gets the
    library where the engine looks, and VLMQ_CUTLASS_LIB pointing at it."""
    call = f"test_packed_{os.getpid()}"
    pack_library(tmp_path)
    seen = run_call(tmp_path, "echo LIB=$VLMQ_CUTLASS_LIB; finish_call", call)
    assert seen["LIB"] == f"{tmp_path}/build/cutlass/libvlmq_mixed_gemm.so"
    assert (tmp_path / "build" / "cutlass" / "libvlmq_mixed_gemm.so").read_bytes() == b"a library"
    shutil.rmtree(f"/tmp/r_{call}")


def test_a_bf16_ab_runs_the_ab_script_and_keeps_its_tail_and_exit_status(tmp_path):
    call = f"test_ab_{os.getpid()}"
    stand_in(tmp_path, "bench_decode_ab.py", 3)
    seen = run_call(
        tmp_path,
        "bf16_ab abx qwen2-vl-2b 1,16 VLMQ_ATTENTION_PLAN 'default;stages=1' 30; "
        "AB_FLAGS=--rebuild bf16_ab aby qwen2-vl-7b 1 VLMQ_GREEDY_ADVANCE 'inductor;kernel'; echo R=$R; finish_call",
        call,
    )
    log = (pathlib.Path(seen["R"]) / "abx.log").read_text().splitlines()
    assert log[0] == (
        f"args --out {seen['R']}/abx --model qwen2-vl-2b --recipes bf16 --batch-sizes 1,16 "
        "--env VLMQ_ATTENTION_PLAN --variants default;stages=1 --rounds 3"
    )
    assert len(log) == 2 and log[1].startswith("abx rc 3 at "), log  # the noise filtered, the script's status kept
    rebuilt = (pathlib.Path(seen["R"]) / "aby.log").read_text().splitlines()
    assert rebuilt[0].endswith("--variants inductor;kernel --rounds 3 --rebuild"), rebuilt
    shutil.rmtree(seen["R"])


def test_decode_ab_runs_the_ab_for_the_recipe_and_rounds_given(tmp_path):
    r, log = helper_log(
        tmp_path,
        "bench_decode_ab.py",
        0,
        "RECIPE=int4_wo AB_ROUNDS=5 decode_ab ab qwen2-vl-7b 16 VLMQ_TILES 'a;b'",
        "ab.log",
    )
    assert log[0] == (
        f"args --out {r}/ab --model qwen2-vl-7b --recipes int4_wo --batch-sizes 16 --env VLMQ_TILES --variants a;b "
        "--rounds 5"
    )
    assert len(log) == 2 and log[1].startswith("ab rc 0 at "), log


def helper_log(root: pathlib.Path, script: str, status: int, helper: str, log: str) -> tuple[str, list[str]]:
    """Run one helper of the preamble (``helper``, a command line) over a stand-in for benchmarks/``script`` exiting
    with ``status``; (the call's results folder, the lines of its ``log``), the folder removed."""
    stand_in(root, script, status)
    seen = run_call(root, f"{helper}; echo R=$R; finish_call", f"test_{log}_{os.getpid()}")
    lines = (pathlib.Path(seen["R"]) / log).read_text().splitlines()
    shutil.rmtree(seen["R"])
    return seen["R"], lines


def test_w4_tiles_runs_the_tile_bench_for_the_presets_and_keeps_its_tail_and_exit_status(tmp_path):
    r, log = helper_log(tmp_path, "bench_w4_mma.py", 2, "w4_tiles 30 --presets 7b", "bench.log")
    assert log[0] == f"args --out {r}/bench --reps 20 --presets 7b"
    assert len(log) == 2 and log[1].startswith("bench rc 2 at "), log


def test_speed_table_runs_bench_speed_at_both_batches_within_its_seconds(tmp_path):
    r, log = helper_log(tmp_path, "bench_speed.py", 4, "speed_table s2 qwen2-vl-2b bf16,fp8 40 --repeats 3", "s2.log")
    assert log[0] == (
        f"args --out {r}/s2 --models qwen2-vl-2b --recipes bf16,fp8 --batch-sizes 1,16 --repeats 2 "
        "--tasks speed --long-context-recipes  --budget-s 30 --repeats 3"
    )
    assert len(log) == 2 and log[1].startswith("s2 rc 4 at "), log


def test_speed_table_drops_run_copies_identical_to_the_merged_records_and_keeps_the_others(tmp_path):
    """A run folder's results.jsonl that bench_speed.py merged unchanged into the table's own is dropped (records
    travel with every later device call); one that differs (a second model's, a stopped run's) stays."""
    bench = tmp_path / "benchmarks" / "bench_speed.py"
    bench.parent.mkdir(exist_ok=True)
    bench.write_text(
        "import pathlib, sys\n"
        "out = pathlib.Path(sys.argv[sys.argv.index('--out') + 1])\n"
        "for run, text in (('run_a', 'merged\\n'), ('run_b', 'other\\n')):\n"
        "    (out / run).mkdir(parents=True)\n"
        "    (out / run / 'results.jsonl').write_text(text)\n"
        "(out / 'results.jsonl').write_text('merged\\n')\n"
    )
    seen = run_call(tmp_path, "speed_table s2 qwen2-vl-2b bf16 40; echo R=$R; finish_call", f"test_dup_{os.getpid()}")
    table = pathlib.Path(seen["R"]) / "s2"
    assert (table / "results.jsonl").read_text() == "merged\n"
    assert not (table / "run_a" / "results.jsonl").exists()
    assert (table / "run_b" / "results.jsonl").read_text() == "other\n"
    shutil.rmtree(seen["R"])


def test_gpu_tests_runs_pytest_on_several_processes_and_keeps_the_log_and_exit_status(tmp_path):
    """``gpu_tests``: the GPU-marked tests through pytest-xdist (GPU_TEST_WORKERS processes, 12 by default), one line
    a test, the image's import noise filtered, the given arguments after the defaults, the exit status last; a
    per-test timeout only where pytest-timeout imports."""
    fake = tmp_path / "bin" / "python3"  # the call's python3: prints what it was asked to run
    fake.parent.mkdir()
    # "import pytest_timeout" succeeds where the marker file exists
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = -c ]; then [ -f has_timeout ]; exit $?; fi\n'
        "echo 'quant_api: import noise'\necho \"args $*\"\nexit 5\n"
    )
    fake.chmod(0o755)
    body = "gpu_tests t1 30 tests/engine -k attention; GPU_TEST_WORKERS=14 gpu_tests t2 30"
    r, log = helper_log(tmp_path, "unused.py", 0, body, "t1.log")
    assert log[0] == (
        "args -m pytest -v -m gpu -p no:cacheprovider -n 12 --dist load --tb=short -rfE tests/engine -k attention"
    )
    assert len(log) == 2 and log[1].startswith("t1 rc 5 at "), log
    (tmp_path / "has_timeout").touch()
    r, log = helper_log(tmp_path, "unused.py", 0, "GPU_TEST_WORKERS=14 gpu_tests t2 30", "t2.log")
    assert log[0] == "args -m pytest -v -m gpu -p no:cacheprovider -n 14 --dist load --tb=short -rfE --timeout 300"


def test_both_gpu_entry_points_take_the_carried_libraries(tmp_path):
    """carried_libs.sh, which the preamble and gpu_check.sh both source: a packed library unpacked and exported, a set
    VLMQ_CUTLASS_LIB kept, and nothing exported where no library was carried."""
    root = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
    for script in ("device_call.sh", "gpu_check.sh"):
        assert '. "$(dirname "${BASH_SOURCE[0]}")/carried_libs.sh"' in (root / script).read_text(), script
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(root / "carried_libs.sh", tmp_path / "benchmarks")

    def exported(preset: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "VLMQ_CUTLASS_LIB"}
        env |= {"VLMQ_CUTLASS_LIB": preset} if preset else {}
        script = '. benchmarks/carried_libs.sh; echo "LIB=${VLMQ_CUTLASS_LIB:-none}"'
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert exported(None) == "LIB=none"
    pack_library(tmp_path)
    assert exported(None) == f"LIB={tmp_path}/build/cutlass/libvlmq_mixed_gemm.so"
    assert (tmp_path / "build" / "cutlass" / "libvlmq_mixed_gemm.so").read_bytes() == b"a library"
    assert exported("/elsewhere/lib.so") == "LIB=/elsewhere/lib.so"


def test_long_point_runs_the_speed_long_task_with_the_plan_and_keeps_each_status(tmp_path):
    """``long_point`` runs `vlmq run --tasks speed-long` (here a stand-in vlmq package under the root's src/, first on
    the call's PYTHONPATH after the wheels) with the plan in $VLMQ_ATTENTION_PLAN (``default``: empty, the engine's),
    appends the tail and exit status of each run to long.log and drops the run's store."""
    package = tmp_path / "src" / "vlmq"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")  # a regular package: found before the installed vlmq
    (package / "__main__.py").write_text(
        "import os, pathlib, sys\nprint('quant_api: import noise')\n"
        "out = pathlib.Path(sys.argv[sys.argv.index('--out') + 1]); out.mkdir(parents=True)\n"
        "(out / 'vlmq.sqlite').write_text('a store')\n"
        "print('plan', repr(os.environ.get('VLMQ_ATTENTION_PLAN')), ' '.join(sys.argv[1:]))\n"
        "recipes = sys.argv[sys.argv.index('--recipes') + 1]\n"
        "sys.exit(5 if 'kv_fp8' in recipes else 0)\n"
    )
    seen = run_call(
        tmp_path,
        "long_point la bf16 default; long_point lb bf16+kv_fp8 warps=4,targets=256 20; echo R=$R; "
        "echo stores=$(ls $R/la $R/lb | grep -c sqlite); finish_call",
        f"test_long_{os.getpid()}",
    )
    r = seen["R"]
    log = (pathlib.Path(r) / "long.log").read_text().splitlines()
    run = "run --model qwen2-vl-2b --recipes {} --tasks speed-long --launcher subprocess --quiet --fresh --out {}"
    assert log == [
        "plan '' " + run.format("bf16", f"{r}/la"),
        log[1],
        "plan 'warps=4,targets=256' " + run.format("bf16+kv_fp8", f"{r}/lb"),
        log[3],
    ], log
    assert log[1].startswith("long la (bf16, plan default) rc 0 at ")
    assert log[3].startswith("long lb (bf16+kv_fp8, plan warps=4,targets=256) rc 5 at ")
    assert seen["stores"] == "0"
    shutil.rmtree(r)
