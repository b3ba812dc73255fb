"""benchmarks/attention_phases_sass.py: the fused decode attention's sm_90 SASS cut into its traced phases (no GPU)."""

import json
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


def compiles_here():
    pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("compiles real kernels")


def test_the_phases_hold_what_the_kernel_does_in_them(tmp_path):
    """The tensor-core products sit in the blocks phase (none before q is rotated), the combine's loads of the
    partials in the combine phase; four warps (the default over BF16 caches) split the blocks' products that two
    warps hold, and 32-slot blocks halve them, so each warp issues fewer of them."""
    compiles_here()
    import attention_phases_sass

    plans = "warps=2;default;block=32,splits=12"
    assert attention_phases_sass.main(["--out", str(tmp_path), "--caches", "bf16", "--plans", plans]) == 0
    record = json.loads((tmp_path / "phases.json").read_text())
    two, default, block32 = record["results"]
    assert (default["plan"], two["warps"], default["warps"], block32["warps"]) == ("default", 2, 4, 4)
    for r in (two, default, block32):
        phases = {p["phase"]: p for p in r["phases"]}
        assert list(phases) == list(attention_phases_sass.PHASES)
        assert phases["blocks"]["mma"] > 0 and phases["start"]["mma"] == phases["loaded"]["mma"] == 0
        assert phases["combine"]["global loads"] > 0 and phases["combine"]["mma"] == 0
        assert phases["blocks"]["loop"] < phases["blocks"]["instructions"]  # the later blocks' loop, and the rest
    by_phase = [{p["phase"]: p for p in r["phases"]} for r in (two, default, block32)]
    assert by_phase[1]["blocks"]["mma"] < by_phase[0]["blocks"]["mma"]
    assert by_phase[2]["blocks"]["mma"] < by_phase[1]["blocks"]["mma"]  # half the keys a program: half the scores
    text = (tmp_path / "phases.md").read_text()
    assert "### 2b, bf16 cache, plan default: 4 warps" in text and "| blocks |" in text


def test_a_launch_reports_the_programs_an_sm_holds_and_its_waves(tmp_path):
    """At issue 17's long point (batch 16, 8192 tokens) the FP8 cache's kernel at 4 warps holds two programs an SM
    (its registers), so a 512-program target's 480 programs take two waves on 132 SMs, where 2 warps hold four (one
    wave); the default (4 warps, 256 programs) takes one."""
    compiles_here()
    import attention_phases_sass

    argv = ["--out", str(tmp_path), "--caches", "dynamic", "--batch", "16", "--context", "8192"]
    assert attention_phases_sass.main([*argv, "--plans", "warps=2,targets=512;warps=4,targets=512;default"]) == 0
    two, four, default = json.loads((tmp_path / "phases.json").read_text())["results"]
    assert (two["cache_length"], two["stages"], two["warps"], four["warps"], default["warps"]) == (8256, 3, 2, 4, 4)
    assert (two["programs"], four["programs"], default["programs"]) == (480, 480, 256)
    assert four["programs_per_sm"] < two["programs_per_sm"] and four["shared_bytes"] > 0
    assert (two["waves"], four["waves"], default["waves"]) == (1, 2, 1)
    assert "480 programs launched: 2 wave(s) on 132 SMs" in (tmp_path / "phases.md").read_text()


def test_a_kernel_without_the_trace_is_refused():
    pytest.importorskip("triton")
    import attention_phases_sass

    with pytest.raises(ValueError, match="timer reads"):
        attention_phases_sass.phase_counts("        /*0000*/                   EXIT ;\n")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--presets", "3b"], "--presets 3b: use a comma list of 2b, 7b"),
        (["--caches", "fp8"], "--caches fp8: use a comma list of bf16, dynamic, visual_aware"),
        (["--plans", "warps=3"], "VLMQ_ATTENTION_PLAN='warps=3': use comma-separated key=value"),
        (["--context", "400", "--cache-length", "400"], "--cache-length 400: use a batch of 1 or more and a cache"),
        (["--batch", "0"], "--batch 0 --context 300 --cache-length 372: use a batch of 1 or more"),
    ],
)
def test_bad_arguments_are_refused_in_one_line_before_anything_compiles(argv, message):
    pytest.importorskip("triton")
    import attention_phases_sass
    from vlmq.errors import VlmqError

    with pytest.raises((SystemExit, VlmqError)) as err:
        attention_phases_sass.main(["--out", "x", *argv])
    assert message in str(err.value) and "\n" not in str(err.value)
