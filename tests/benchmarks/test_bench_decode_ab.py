"""benchmarks/bench_decode_ab.py: a launch setting's values timed in one process, interleaved, the setting restored;
no speed figure off the compiled CUDA engine."""

import json
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_decode_ab  # noqa: E402
from vlmq.engine.kernels.gemv import TILES_FILE  # noqa: E402
from vlmq.errors import VlmqError  # noqa: E402


def test_variants_are_interleaved_in_rounds_and_compared_with_the_first():
    assert bench_decode_ab.variants_of(" late ; qkv,o;late;") == ["late", "qkv,o"]
    with pytest.raises(VlmqError, match="at least two values separated by ';'"):
        bench_decode_ab.variants_of("late")
    assert bench_decode_ab.schedule(["a", "b"], 2) == [(0, "a"), (0, "b"), (1, "a"), (1, "b")]
    summary = bench_decode_ab.summarize({"a": [2.0, 1.0, 3.0], "b": [1.0, 1.5, 0.5]}, "a")
    assert summary["a"] == {"ms_per_token": 2.0, "min": 1.0, "max": 3.0, "n": 3, "x_reference": 1.0}
    assert summary["b"]["ms_per_token"] == 1.0 and summary["b"]["x_reference"] == 0.5
    rows = [{"recipe": "bf16", "batch": 1, "summary": summary, "decode_paths": {"a": "fused-bf16", "b": "fused-bf16"}}]
    text = bench_decode_ab.markdown(rows, "VLMQ_PDL_TRIGGER", True, "NVIDIA H200")
    assert "| bf16 | 1 | b | 1.000 | 0.500-1.500 | 0.500 | fused-bf16 |" in text
    assert text.startswith("VLMQ_PDL_TRIGGER A/B")


def test_on_a_cpu_the_loop_runs_but_reports_no_speed_and_restores_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMQ_PDL_TRIGGER", "measured")
    args = ["--out", str(tmp_path), "--model", "toy", "--recipes", "bf16", "--batch-sizes", "1", "--device", "cpu"]
    assert bench_decode_ab.main([*args, "--variants", "late;qkv", "--rounds", "2", "--new-tokens", "2"]) == 0
    assert os.environ["VLMQ_PDL_TRIGGER"] == "measured"
    text = (tmp_path / "ab.md").read_text()
    assert "cpu: not measured" in text and text.count("| not measured |") == 2
    report = json.loads((tmp_path / "ab.json").read_text())
    (result,) = report["results"]
    assert "times" not in result and result["summary"]["qkv"]["n"] == 2
    assert report["provenance"]["vlmq_env"]["VLMQ_PDL_TRIGGER"] == "measured"
    assert report["model"] == "toy"  # what a tile veto checks its preset against


def test_rebuild_builds_the_runner_again_for_a_setting_read_at_build(tmp_path, monkeypatch):
    """``--rebuild`` with VLMQ_ATTENTION_COMBINE: each value gets a runner built under it (on a CPU the fused runner,
    uncompiled), and each row names the decode path that ran, so the two values are seen to differ."""
    monkeypatch.delenv("VLMQ_ATTENTION_COMBINE", raising=False)
    args = ["--out", str(tmp_path), "--model", "toy", "--recipes", "int4_wo", "--batch-sizes", "1", "--device", "cpu"]
    args += ["--env", "VLMQ_ATTENTION_COMBINE", "--variants", "attention;o_proj", "--rounds", "1", "--new-tokens", "2"]
    assert bench_decode_ab.main([*args, "--rebuild"]) == 0
    assert "VLMQ_ATTENTION_COMBINE" not in os.environ
    (result,) = json.loads((tmp_path / "ab.json").read_text())["results"]
    paths = result["decode_paths"]
    assert paths["o_proj"] == paths["attention"] + ", attention combined in o_proj"
    assert f"| int4_wo | 1 | o_proj | not measured | - | - | {paths['o_proj']} |" in (tmp_path / "ab.md").read_text()


def test_ttft_is_timed_per_variant_with_the_prefill_note_and_never_reported_off_cuda(tmp_path, monkeypatch):
    """``--ttft`` (a setting of the prefill, read as the runner is built): each variant's first token is timed after
    one more warm generation (the prefill graph captured), and the TTFT table names each variant's prefill GEMMs;
    on a CPU both tables say "not measured"."""
    monkeypatch.delenv("VLMQ_PREFILL_PREPARE", raising=False)
    args = ["--out", str(tmp_path), "--model", "toy", "--recipes", "int4_wo", "--batch-sizes", "1", "--device", "cpu"]
    args += ["--env", "VLMQ_PREFILL_PREPARE", "--variants", "off;side", "--rounds", "1", "--new-tokens", "2"]
    generations = []
    from vlmq.engine import Engine

    generate = Engine.generate
    monkeypatch.setattr(Engine, "generate", lambda self, *a, **k: generations.append(a[1]) or generate(self, *a, **k))
    assert bench_decode_ab.main([*args, "--rebuild", "--ttft"]) == 0
    assert generations == [4, 4, 2] * 2  # two warm generations a variant, then the timed one
    (result,) = json.loads((tmp_path / "ab.json").read_text())["results"]
    assert set(result["ttft"]) == {"off", "side"} and "ttft_times" not in result
    text = (tmp_path / "ab.md").read_text()
    assert "VLMQ_PREFILL_PREPARE A/B, time to first token ms" in text
    assert text.count("| not measured | - | - |") == 4


@pytest.mark.parametrize(
    "env, variants, message",
    [
        ("VLMQ_ATTENTION_PLAN", "default;splits=1,warps=16", "VLMQ_ATTENTION_PLAN='splits=1,warps=16': use comma"),
        ("VLMQ_PDL_TRIGGER", "measured;qkv;sideways", "VLMQ_PDL_TRIGGER='sideways': use measured, late, early"),
        ("VLMQ_GREEDY_ADVANCE", "kernel;argmax", "VLMQ_GREEDY_ADVANCE='argmax': use kernel or inductor"),
        ("VLMQ_TILES", f"{TILES_FILE};/nonexistent/tiles.json", "cannot read the tile table /nonexistent/tiles.json"),
        ("VLMQ_W8A8_ROW_MAX", "kernel;gate_up;down", "VLMQ_W8A8_ROW_MAX='down': use measured .*, gate_up"),
        ("VLMQ_NORM_DEFER", "none;qkv,gate_up;o", "VLMQ_NORM_DEFER='o': use measured, none or the projections"),
    ],
)
def test_a_bad_variant_stops_the_run_before_any_model_loads(tmp_path, monkeypatch, env, variants, message):
    """Every variant is read by its setting's reader first: a bad last one fails in one line before the first is
    timed (no model loaded, nothing written), and the setting is left as it was."""
    monkeypatch.setenv(env, "default" if env == "VLMQ_ATTENTION_PLAN" else variants.split(";")[0])
    loads = []
    monkeypatch.setattr(bench_decode_ab, "quantized_model", lambda *a: loads.append(a))
    args = ["--out", str(tmp_path / "ab"), "--model", "toy", "--device", "cpu", "--env", env, "--variants", variants]
    with pytest.raises(VlmqError, match=message) as err:
        bench_decode_ab.main(args)
    assert "\n" not in str(err.value) and not loads and not (tmp_path / "ab").exists()
    assert os.environ[env] == ("default" if env == "VLMQ_ATTENTION_PLAN" else variants.split(";")[0])


def test_every_setting_reader_accepts_its_default():
    """The readers the check uses take each setting's documented default (so the check refuses only bad values)."""
    defaults = {"VLMQ_ATTENTION_PLAN": "default", "VLMQ_ATTENTION_COMBINE": "attention", "VLMQ_PDL_TRIGGER": "measured"}
    defaults |= {"VLMQ_NORM_FIRST": "measured", "VLMQ_W4_MMA": "off", "VLMQ_GREEDY_ADVANCE": "kernel"}
    defaults |= {"VLMQ_PREFILL_PREPARE": "side", "VLMQ_TILES": str(TILES_FILE), "VLMQ_W8A8_ROW_MAX": "measured"}
    defaults |= {
        "VLMQ_FRAG_ROWS": "0",
        "VLMQ_PDL_OFF": "none",
        "VLMQ_GEMV_PREFETCH": "off",
        "VLMQ_GEMV_UNMASKED": "measured",
        "VLMQ_NORM_DEFER": "measured",
    }
    assert set(defaults) == set(bench_decode_ab.SETTING_READERS)
    for env, value in defaults.items():
        bench_decode_ab.check_variants(env, [value, value])


def test_recipes_as_variants_get_an_engine_each_timed_in_interleaved_rounds(tmp_path, monkeypatch):
    """``--env recipe``: an engine per recipe at a batch size, all built before any is timed, then rounds of a warm
    and a timed generation per recipe in turn (A B A B), one row across the recipes; no speed off CUDA."""
    from vlmq.engine import Engine

    order = []
    generate = Engine.generate
    monkeypatch.setattr(
        Engine, "generate", lambda self, *a, **k: order.append((id(self), a[1])) or generate(self, *a, **k)
    )
    args = ["--out", str(tmp_path), "--model", "toy", "--batch-sizes", "1", "--device", "cpu", "--env", "recipe"]
    assert bench_decode_ab.main([*args, "--variants", "bf16;int8_wo", "--rounds", "2", "--new-tokens", "2"]) == 0
    names = [name for name, _ in order]
    assert [n for _, n in order] == [4, 2] * 4 and names[0::2] == names[1::2]  # each timed one after its warm one
    assert names[0] != names[2] and names[0::4] == names[0:1] * 2  # bf16, int8_wo, bf16, int8_wo
    (row,) = json.loads((tmp_path / "ab.json").read_text())["results"]
    assert row["recipe"] == bench_decode_ab.ACROSS_RECIPES and set(row["summary"]) == {"bf16", "int8_wo"}
    assert "times" not in row and row["summary"]["int8_wo"]["n"] == 2
    text = (tmp_path / "ab.md").read_text()
    assert text.startswith("recipe A/B") and text.count("| not measured |") == 2


def test_recipe_variants_are_checked_before_any_model_loads(tmp_path, monkeypatch):
    loads = []
    monkeypatch.setattr(bench_decode_ab, "quantized_model", lambda *a: loads.append(a))
    args = ["--out", str(tmp_path / "ab"), "--model", "toy", "--device", "cpu", "--env", "recipe"]
    with pytest.raises(VlmqError, match="unknown recipe 'int5_wo'") as err:
        bench_decode_ab.main([*args, "--variants", "int4_wo;int5_wo"])
    assert "\n" not in str(err.value) and not loads
    with pytest.raises(VlmqError, match="the variants name the recipes"):
        bench_decode_ab.main([*args, "--variants", "int4_wo;int4_awq", "--recipes", "int8_wo"])
    assert not loads and not (tmp_path / "ab").exists()
