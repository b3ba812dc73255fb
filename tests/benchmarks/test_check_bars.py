"""benchmarks/check_bars.py: issues 16 / 17's bars judged from speed records (ratios within the run, strict where
the issue says "faster", unmeasured where a record is missing)."""

import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import check_bars  # noqa: E402


def rec(model, recipe, task, metric, value):
    return {"model": f"qwen2-vl-{model}", "recipe": recipe, "task": task, "metric": metric, "value": value}


def verdicts(rows) -> dict:
    return {(r["what"], r["recipe"]): (r["measured"], r["met"]) for r in check_bars.check(rows)}


def test_bars_take_ratios_within_the_run_and_judge_at_the_limit():
    rows = [
        rec("7b", "int8_wo", "speed", "decode_ms_per_token", 2.2),  # at the limit: met
        rec("7b", "fp8", "speed", "decode_ms_per_token", 2.21),
        rec("2b", "bf16", "speed", "decode_ms_per_token", 1.2),
        rec("2b", "int4_wo", "speed", "decode_ms_per_token", 0.72),  # 0.6 x BF16: met
        rec("2b", "int8_wo", "speed", "decode_ms_per_token", 0.91),  # 0.758 x: not met
        rec("2b", "bf16", "speed/bs16", "decode_ms_per_token", 1.5),
        rec("2b", "int8_wo", "speed/bs16", "decode_ms_per_token", 1.4),
        rec("2b", "int4_wo", "speed/bs16", "decode_ms_per_token", 1.4),  # level with int8: not faster
        rec("2b", "fp8", "speed/bs16", "decode_ms_per_token", 1.6),  # slower than BF16
        rec("2b", "bf16", "speed", "ttft_ms", 7.0),
        rec("2b", "fp8", "speed", "ttft_ms", 7.7),  # 1.1 x: met
        rec("2b", "bf16", "speed", "vision_ms", 4.1),
        rec("2b", "bf16", "speed-long/ctx8192_bs16", "decode_ms_per_token", 2.8),
        rec("2b", "bf16+kv_fp8", "speed-long/ctx8192_bs16", "decode_ms_per_token", 2.75),
        rec("2b", "bf16+kv_fp8_dyn", "speed-long/ctx8192_bs16", "decode_ms_per_token", 2.8),  # level: not faster
    ]
    got = verdicts(rows)
    assert got[("7b batch-1 decode ms/token", "int8_wo")] == (2.2, True)
    assert got[("7b batch-1 decode ms/token", "fp8")] == (2.21, False)
    assert got[("7b batch-1 decode ms/token", "int4_wo")] == (None, None)
    assert got[("2b batch-1 decode, x BF16", "int4_wo")] == (pytest.approx(0.6), True)
    assert got[("2b batch-1 decode, x BF16", "int8_wo")][1] is False
    assert got[("2b batch-1 decode ms/token", "bf16")] == (1.2, True)
    assert got[("2b batch-16 decode not slower than BF16 (x BF16)", "fp8")][1] is False
    assert got[("2b batch-16 decode not slower than BF16 (x BF16)", "int8_wo")][1] is True
    assert got[("2b batch-16 decode: 4-bit faster than int8_wo (x int8_wo)", "int4_wo")] == (1.0, False)
    assert got[("2b batch-16 decode: 4-bit faster than fp8 (x fp8)", "int4_wo")][1] is True
    assert got[("2b batch-16 decode ms/token", "bf16")] == (1.5, True)
    assert got[("2b TTFT, x BF16", "fp8")] == (pytest.approx(1.1), True)
    assert got[("2b TTFT, x BF16", "smoothquant")] == (None, None)
    assert got[("2b TTFT ms", "bf16")] == (7.0, True) and got[("2b vision ms", "bf16")][1] is False
    what = "2b 8k x 16 decode: FP8 KV faster than BF16 KV (x BF16 KV)"
    assert got[(what, "bf16+kv_fp8")][1] is True and got[(what, "bf16+kv_fp8_dyn")] == (1.0, False)
    text = check_bars.bars_markdown(check_bars.check(rows))
    met = sum(m is True for _, m in got.values())
    assert text.startswith(f"Issues 16 / 17 bars: {met} met,") and "| #17 | 2b vision ms | bf16 | 4.100 | ≤ 4 |" in text


def test_a_missing_reference_leaves_the_ratio_unmeasured_and_the_cli_refuses_a_missing_file(tmp_path, capsys):
    got = verdicts([rec("2b", "int8_wo", "speed", "decode_ms_per_token", 0.9)])
    assert got[("2b batch-1 decode, x BF16", "int8_wo")] == (None, None)
    assert got[("2b batch-1 decode ms/token", "int8_wo")] == (0.9, True)
    with pytest.raises(SystemExit):
        check_bars.main([str(tmp_path / "none.jsonl")])
    assert "no such results file" in capsys.readouterr().err
    results = tmp_path / "results.jsonl"
    results.write_text(
        '{"model": "qwen2-vl-2b", "recipe": "bf16", "task": "speed", "metric": "ttft_ms", "value": 6.5}\n'
    )
    assert check_bars.main([str(results), "--out", str(tmp_path / "bars.md")]) == 0
    assert "| #17 | 2b TTFT ms | bf16 | 6.500 | ≤ 7 | met |" in (tmp_path / "bars.md").read_text()


def test_a_verdict_whose_limit_lies_within_the_repeats_range_is_called_a_tie():
    def ranged(model, recipe, task, value, low, high):
        return {**rec(model, recipe, task, "decode_ms_per_token", value), "ci_low": low, "ci_high": high}

    rows = [
        ranged("2b", "bf16", "speed/bs16", 1.50, 1.49, 1.51),
        ranged("2b", "fp8", "speed/bs16", 1.505, 1.50, 1.51),  # 1.003 x BF16, range 0.993-1.013: a tie
        ranged("2b", "int8_wo", "speed/bs16", 1.40, 1.39, 1.41),  # 0.933 x, range 0.921-0.946: clear
        ranged("2b", "bf16", "speed", 1.30, 1.20, 1.40),  # 1.3 > 1.25, but 1.20 <= 1.25: a tie
        rec("2b", "int4_wo", "speed/bs16", "decode_ms_per_token", 1.0),  # no range: never a tie
    ]
    results = {(r["what"], r["recipe"]): r for r in check_bars.check(rows)}
    slower = "2b batch-16 decode not slower than BF16 (x BF16)"
    fp8, int8 = results[(slower, "fp8")], results[(slower, "int8_wo")]
    assert fp8["met"] is False and fp8["spread"] == (pytest.approx(1.50 / 1.51), pytest.approx(1.51 / 1.49))
    assert check_bars.is_tie(fp8) and not check_bars.is_tie(int8) and int8["met"] is True
    bf16 = results[("2b batch-1 decode ms/token", "bf16")]
    assert bf16["met"] is False and check_bars.is_tie(bf16)
    four = results[(slower, "int4_wo")]
    assert four["spread"] is None and not check_bars.is_tie(four)
    text = check_bars.bars_markdown(list(results.values()))
    assert "(2 of the judged within their repeats' range of the limit: ties)." in text.splitlines()[0]
    assert "| fp8 | 1.003 | ≤ 1 | **NOT MET** (a tie: 0.993–1.013 over the repeats) |" in text
    assert "| int8_wo | 0.933 | ≤ 1 | met |" in text


def test_figures_measured_under_a_knob_say_so(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    row = {"model": "qwen2-vl-2b", "recipe": "bf16", "task": "speed", "metric": "ttft_ms", "value": 6.5}
    results.write_text(json.dumps(row) + "\n")
    check_bars.main([str(results)])
    assert capsys.readouterr().out.startswith("Issues 16 / 17 bars:")
    results.write_text(json.dumps({**row, "vlmq_env": {"VLMQ_PDL_TRIGGER": "qkv"}}) + "\n")
    check_bars.main([str(results)])
    assert capsys.readouterr().out.startswith('Measured with VLMQ_* settings: {"VLMQ_PDL_TRIGGER": "qkv"}.')


def test_given_several_files_each_figure_says_which_and_a_ratio_across_two_is_flagged(tmp_path, capsys):
    """The 2b table in one file, a later 7b run in another that also holds a 2b BF16 figure, and a third holding a 2b
    fp8 figure alone: a ratio divides by its own file's BF16 where that file has one (not the later file's), else by
    the last file's and says so; a figure of one file alone names it."""
    first, second, third = tmp_path / "2b.jsonl", tmp_path / "7b.jsonl", tmp_path / "fp8.jsonl"
    b1 = ("speed", "decode_ms_per_token")
    first.write_text("\n".join(json.dumps(rec("2b", r, *b1, v)) for r, v in (("bf16", 1.2), ("int8_wo", 0.9))))
    rows = (rec("7b", "int4_wo", *b1, 2.3), rec("2b", "bf16", *b1, 1.25), rec("2b", "int4_wo", *b1, 0.75))
    second.write_text("\n".join(json.dumps(r) for r in rows))
    third.write_text(json.dumps(rec("2b", "fp8", *b1, 0.95)))
    check_bars.main([str(first), str(second), str(third)])
    text = capsys.readouterr().out
    assert f"Files: 1 = {first}; 2 = {second}; 3 = {third}." in text
    assert "1 ratios taken across files (figures of two runs)." in text
    assert "| #16 | 2b batch-1 decode, x BF16 | int8_wo | 0.750 | ≤ 0.75 | met | 1 / 1 |" in text
    assert "| #16 | 2b batch-1 decode, x BF16 | int4_wo | 0.600 | ≤ 0.6 | met | 2 / 2 |" in text
    assert "| #16 | 2b batch-1 decode, x BF16 | fp8 | 0.760 | ≤ 0.75 | **NOT MET** | 3 / 2 (across files) |" in text
    assert "| #16 | 7b batch-1 decode ms/token | int4_wo | 2.300 | ≤ 1.6 | **NOT MET** | 2 |" in text
    assert "| #16 | 7b batch-1 decode ms/token | fp8 | - | ≤ 2.2 | not measured | - |" in text
    check_bars.main([str(first)])  # one file: no column, no list
    one = capsys.readouterr().out
    assert "Files:" not in one and "| issue | bar | recipe | measured | limit | |\n" in one


def test_figures_from_another_gpu_than_the_bars_say_they_judge_nothing(tmp_path, capsys):
    """The device tool may lend an H100 for an H200 call: its run's bars.md must not read as a verdict."""
    results = tmp_path / "results.jsonl"
    row = {"model": "qwen2-vl-2b", "recipe": "bf16", "task": "speed", "metric": "ttft_ms", "value": 6.5}
    results.write_text(json.dumps({**row, "device": "NVIDIA H200"}) + "\n")
    check_bars.main([str(results)])
    assert capsys.readouterr().out.startswith("Issues 16 / 17 bars:")
    results.write_text(json.dumps({**row, "device": "NVIDIA H100 80GB HBM3"}) + "\n")
    check_bars.main([str(results)])
    first = capsys.readouterr().out.splitlines()[0]
    assert "NVIDIA H100 80GB HBM3" in first and "do not judge them" in first


def test_a_recipe_ab_counts_as_a_run_of_its_own_and_a_setting_ab_is_refused(tmp_path, capsys):
    """A recipe A/B's ab.json (``bench_decode_ab.py --env recipe``) gives its recipes' batch-16 figures with their
    rounds' range; a later file's figure wins and a ratio takes its own file's reference, so "4-bit faster than
    8-bit" is judged within the A/B while a ratio to the table's BF16 says it is taken across files. An A/B of a
    setting, whose variants are no recipes, is refused in one line; rounds a CPU ran give no figure."""
    import bench_decode_ab

    table = tmp_path / "results.jsonl"
    table.write_text(
        "\n".join(
            json.dumps(rec("7b", recipe, "speed/bs16", "decode_ms_per_token", value))
            for recipe, value in (("bf16", 4.06), ("int8_wo", 2.976), ("int4_wo", 2.982))  # 1.002x: not met
        )
        + "\n"
    )
    times = {"int8_wo": [3.02, 3.04, 3.03], "int4_wo": [2.91, 2.92, 2.95]}
    row = {
        "recipe": bench_decode_ab.ACROSS_RECIPES,
        "batch": 16,
        "summary": bench_decode_ab.summarize(times, "int8_wo"),
    }
    report = {"model": "qwen2-vl-7b", "env": bench_decode_ab.RECIPE_VARIANTS, "variants": list(times),
              "provenance": {"device": "NVIDIA H200"}, "results": [row]}  # fmt: skip
    ab = tmp_path / "ab.json"
    ab.write_text(json.dumps(report))
    assert check_bars.main([str(table), str(ab), "--out", str(tmp_path / "bars.md")]) == 0
    text = (tmp_path / "bars.md").read_text()
    faster = "| #16 | 7b batch-16 decode: 4-bit faster than int8_wo (x int8_wo) | int4_wo | 0.964 | < 1 | met |"
    assert faster + " 2 / 2 |" in text  # 2.92 / 3.03, both from the A/B
    assert (
        "| 7b batch-16 decode not slower than BF16 (x BF16) | int4_wo | 0.719 |" in text
        and "2 / 1 (across files)" in text
    )
    cpu = {**report, "results": [{**row, "summary": {v: {"n": 3, "speed": "not measured"} for v in times}}]}
    assert check_bars.ab_records(cpu) == []
    ab.write_text(json.dumps({**report, "env": "VLMQ_PDL_TRIGGER"}))
    with pytest.raises(SystemExit):
        check_bars.main([str(ab)])
    assert "is an A/B of VLMQ_PDL_TRIGGER values, not of recipes" in capsys.readouterr().err
