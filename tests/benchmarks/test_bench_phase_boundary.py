"""The phase-boundary probe (``benchmarks/bench_phase_boundary.py``): its chain kernel computes every GEMV phase of a
small decoder as torch does, through Triton's interpreter on the CPU, both as one persistent launch (one program:
its counter waits are met by its own earlier tiles) and a launch a phase on several programs (each phase's counter
met by the launch before); the counters end at each phase's tile count; a wrong row fails the check; bad flags are
refused in one line."""

import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = """
import sys, torch
sys.path.insert(0, {bench!r})
import bench_phase_boundary as b
c = b.Chain(hidden=32, qkv=48, inter=64, layers=2, bn_qkv=16, bn_o=8, bn_gate_up=16, bn_down=8, bk_h=16, bk_i=32)
assert c.problems() == []
w = b.make_weights(c, "cpu")
x0 = torch.randn(32, generator=torch.Generator().manual_seed(1)).bfloat16()
tiles = [t for _ in range(c.layers) for t in c.tiles()]
assert b.check(c, w, b.reference(c, w, x0))
cnt = torch.zeros(c.phases(), dtype=torch.int32)
act = b.act_rows(c, [x0], "cpu")
b.launch(c, w, act, cnt, 0, c.phases(), 1, b.SYNC_COUNTER)
assert b.check(c, w, act) and cnt.tolist() == tiles, cnt.tolist()
assert act[1:].abs().amax(dim=1).min() > 0  # every phase wrote its row
wrong = act.clone()
wrong[5, 3] += 1
assert not b.check(c, w, wrong)
for sync in (b.SYNC_COUNTER, b.SYNC_COUNTER_LD, b.SYNC_COUNTER_ONCE):
    cnt.zero_()
    again = b.act_rows(c, [x0], "cpu")
    for p in range(c.phases()):
        b.launch(c, w, again, cnt, p, p + 1, 3, sync)
    assert b.check(c, w, again) and cnt.tolist() == tiles, (sync, cnt.tolist())
    assert torch.equal(again, act)  # the same tiles sum in the same order whichever program takes them
print("ok")
"""


def test_chain_kernel_computes_every_phase_as_torch_does(run_interpreted):
    run_interpreted(CHECK)


def bench():
    pytest.importorskip("triton")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_phase_boundary

    return bench_phase_boundary


def test_the_models_chains_divide_into_their_tiles_and_a_bad_one_is_named():
    b = bench()
    assert all(chain.problems() == [] for chain in b.CHAINS.values())
    bad = b.Chain(hidden=40, qkv=32, inter=64, layers=1, bn_o=16, bk_h=16, bk_i=32)
    assert bad.problems() == ["hidden 40 % 16", "hidden 40 % 16", "qkv 32 < hidden 40"]


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--variants", "launches,megakernel"], "--variants megakernel"),
        (["--chain", "72b"], "--chain 72b"),
        (["--programs-per-sm", "1,8"], "--programs-per-sm 8"),
        (["--programs-per-sm", "3"], "--programs-per-sm 3"),
        (["--layers", "-2"], "--layers -2"),
        (["--reps", "0"], "--reps 0"),
    ],
)
def test_bad_flags_are_refused_in_one_line(tmp_path, flags, named):
    b = bench()
    with pytest.raises(SystemExit) as stop:
        b.main(["--out", str(tmp_path), *flags])
    assert named in str(stop.value) and "\n" not in str(stop.value)


def test_the_table_prices_a_boundary_against_the_wait_free_walk():
    """A persistent variant against ``free`` of its own size, a launch variant against the fastest ``free``; every
    row against the ``launches`` step."""
    b = bench()
    chain = b.Chain(hidden=32, qkv=48, inter=64, layers=2)  # 8 phases: 7 boundaries

    def rec(variant, per_sm, us):
        return dict(variant=variant, programs=per_sm and 132 * per_sm, per_sm=per_sm, us=us, us_min=us, us_max=us,
                    reps=5, tb_s=1.0, right=True)  # fmt: skip

    records = [rec("launches", None, 114.0), rec("persistent", 1, 128.0), rec("free", 1, 100.0),
               rec("persistent", 2, 121.0), rec("free", 2, 107.0)]  # fmt: skip
    rows = b.table(records, chain).splitlines()[4:]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert [c[1] for c in cells] == ["a tile each", "132", "132", "264", "264"]
    assert [c[4] for c in cells] == ["1.000", "1.123", "0.877", "1.061", "0.939"]
    assert [c[5] for c in cells] == ["2.00", "4.00", "", "2.00", ""]  # (114 - 100) / 7, (128 - 100) / 7, ...


def test_the_chain_kernel_compiles_for_sm_90_with_its_fences():
    """What the interpreter cannot show (the thirty-eighth session's first device call failed to compile: a global
    the JIT refuses): the persistent form compiles for sm_90 with its release adds at GPU scope and its acquire
    loads, the launch form with PDL's wait."""
    b = bench()
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("compiles real kernels (not under Triton's interpreter)")
    import torch

    from kernel_sass import compile_kernel, opcodes

    t, cnt = torch.zeros(64, dtype=torch.bfloat16), torch.zeros(8, dtype=torch.int32)
    act = torch.zeros(2, 9216, dtype=torch.bfloat16)
    weights = dict(q=t, o=t, gate_up=t, down=t)
    persistent = compile_kernel(
        b.chain_kernel, *b.kernel_args(b.CHAINS["2b"], weights, act, cnt, 0, 1, 1, b.SYNC_COUNTER)
    )
    ops = set(opcodes(persistent.sass))
    assert "REDG.E.ADD.STRONG.GPU" in ops and "LDG.E.STRONG.GPU" in ops and "MEMBAR.ALL.GPU" in ops
    assert "griddepcontrol.wait" not in persistent.ptx
    launched = compile_kernel(
        b.chain_kernel, *b.kernel_args(b.CHAINS["2b"], weights, act, cnt, 0, 1, 1, b.SYNC_PDL_LATE)
    )
    assert "griddepcontrol.wait" in launched.ptx and "griddepcontrol.launch_dependents" in launched.ptx
    assert "REDG.E.ADD.STRONG.GPU" not in set(opcodes(launched.sass))
