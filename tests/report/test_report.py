"""The report regenerates from the store alone, with valid images and the contract's sections."""

import re

from PIL import Image

from vlmq.pipeline import collect_records
from vlmq.report import write_html, write_report
from vlmq.spec import RunSpec
from vlmq.store import Store


def _fill(store: Store):
    for recipe, correct in (
        ("bf16", [1, 1, 1, 0] * 10),
        ("int8_wo", [1, 1, 0, 0] * 10),
        ("bf16+kv_fp8", [1, 0, 0, 0] * 10),
    ):
        store.set_outcome(
            recipe, "ok", kernel="real" if recipe != "bf16+kv_fp8" else "emulated", details={"calibration": None}
        )
        for i, c in enumerate(correct):
            store.put_sample(
                {
                    "recipe": recipe,
                    "task": "shapes-vqa",
                    "sample_id": str(i),
                    "output": "x",
                    "score": float(c),
                    "target": ["x"] * 10,
                    "meta": {"answer_type": "other", "question_type": "what"},
                }
            )
        if recipe != "bf16+kv_fp8":
            store.put_measurements(
                recipe,
                [
                    {
                        "task": "speed",
                        "metric": m,
                        "value": v * (0.6 if recipe == "int8_wo" else 1.0),
                        "ci_low": v,
                        "ci_high": v,
                        "n": 3,
                    }
                    for m, v in (
                        ("decode_ms_per_token", 2.0),
                        ("ttft_ms", 12.0),
                        ("static_vram_gb", 4.0),
                        ("dynamic_vram_gb", 0.2),
                    )
                ],
            )


def test_report_from_a_store_has_sections_and_valid_images(tmp_path):
    spec = RunSpec(out=str(tmp_path), tasks=("shapes-vqa", "speed"), recipes=("bf16", "int8_wo", "bf16+kv_fp8"))
    store = Store(tmp_path)
    store.set_meta("provenance", {"device": "NVIDIA H100 80GB HBM3", "vlmq": "0.1.0"})
    _fill(store)
    records = collect_records(store, spec)
    path = write_report(store, spec, records)
    text = path.read_text()
    for heading in ("## Pareto", "## Recommendations", "## Provenance", "## Ablations", "## Summary"):
        assert heading in text
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert {"img/accuracy.png", "img/latency.png", "img/vram.png", "img/pareto.png", "img/ablation.png"} <= set(images)
    for rel in images:
        assert not rel.startswith("/")
        with Image.open(tmp_path / rel) as im:
            im.verify()
    # the emulated recipe is labelled and gets no speed figure
    assert "bf16+kv_fp8 (emulated)" in text
    assert "not measured" in text
    # int8_wo is significantly worse on 40 paired samples (10 losses, McNemar) and is warned about
    assert re.search(r"Warning\* — \*\*int8_wo\*\*", text)
    # a GPU and a model of unknown size: no CPU caveat, GPU memory is VRAM
    assert "not indicative of GPU deployment" not in text and "static VRAM (GB)" in text
    # regenerating from the store alone gives the same report
    assert write_report(store, spec, collect_records(store, spec)).read_text() == text


def test_side_by_side_with_the_original_study_only_for_its_model(tmp_path):
    store = Store(tmp_path)
    store.set_outcome("bf16", "ok", kernel="real")
    for i, c in enumerate([1, 0, 1, 1]):
        store.put_sample(
            {
                "recipe": "bf16",
                "task": "vqav2",
                "sample_id": str(i),
                "output": "x",
                "score": float(c),
                "target": ["x"] * 10,
                "meta": {"answer_type": "other", "question_type": "what"},
            }
        )
    for model, expected in (("Qwen/Qwen2-VL-2B-Instruct", True), ("toy", False)):
        spec = RunSpec(out=str(tmp_path), model=model, tasks=("vqav2",), recipes=("bf16",))
        text = write_report(store, spec, collect_records(store, spec)).read_text()
        assert ("## Original study side by side" in text) is expected
        if expected:
            row = next(line for line in text.splitlines() if line.startswith("| TRT INT8"))
            assert "82.0" in row and "RTX 5060 Ti" in text
            ours = next(line for line in text.splitlines() if line.startswith("| PyTorch BF16"))
            assert "| 75.0 |" in ours  # our bf16 VQAv2 accuracy (3 of 4) next to theirs


def _fill_cpu_run(store: Store):
    """bf16 and int8_wo on the CPU (toy-sized decoder), 3 of int8_wo's 16 images unreadable, and fidelity rows."""
    details = {"formats": {"bfloat16": {"params": 3_000_000}}, "calibration": None}
    store.set_meta("provenance", {"device": "cpu (x86_64, 2 threads)", "vlmq": "0.1.0"})
    reason = "unreadable image: UnidentifiedImageError: cannot identify image file"
    for recipe in ("bf16", "int8_wo"):
        store.set_outcome(recipe, "ok", kernel="real", details=details)
        for i in range(16):
            failed = recipe == "int8_wo" and i in (4, 7, 9)
            store.put_sample(
                {
                    "recipe": recipe,
                    "task": "shapes-vqa",
                    "sample_id": str(i),
                    "output": "" if failed else "x",
                    "score": None if failed else 1.0,
                    "target": ["x"] * 10,
                    "error": reason if failed else None,
                    "meta": {"answer_type": "other", "question_type": "what"},
                }
            )
            parsed = (
                {
                    "tokens": [1, 2],
                    "top_ids": [[1, 3], [2, 3]],
                    "top_logprobs": [[-0.1, -2.5], [-0.2, -2.0]],
                    "rest_logprob": [-4.0, -3.0],
                }
                if recipe == "bf16"
                else {
                    "kl": [0.001 * i, 0.0],
                    "top1": [True, True],
                    "kl_mean": 0.0005 * i,
                    "kl_max": 0.001 * i,
                    "top1_agreement": 1.0,
                    "positions": 2,
                }
            )
            if not failed:
                store.put_sample(
                    {"recipe": recipe, "task": "shapes-vqa#fidelity", "sample_id": str(i), "parsed": parsed}
                )
        store.put_measurements(
            recipe,
            [
                {
                    "task": "speed",
                    "metric": m,
                    "value": v,
                    "ci_low": v * 0.5,
                    "ci_high": v * 1.5,
                    "n": 3,
                    "device": "cpu",
                }
                for m, v in (
                    ("decode_ms_per_token", 2.0 if recipe == "bf16" else 1.8),
                    ("ttft_ms", 12.0),
                    ("static_vram_gb", 4.0 if recipe == "bf16" else 2.0),
                    ("dynamic_vram_gb", 0.2),
                )
            ],
        )


def test_cpu_report_shows_failures_fidelity_and_honest_speed(tmp_path):
    spec = RunSpec(out=str(tmp_path), tasks=("shapes-vqa", "speed"), recipes=("bf16", "int8_wo"))
    store = Store(tmp_path)
    _fill_cpu_run(store)
    text = write_report(store, spec, collect_records(store, spec)).read_text()
    lines = text.splitlines()
    # failures: a warning at the top (3 of 16 > 5%) and the reasons with their first ids
    warning = next(line for line in lines if "more than 5% of the samples failed" in line)
    assert lines.index(warning) < lines.index("## Outcomes")
    assert "int8_wo · shapes-vqa (3 of 16)" in text
    row = next(line for line in lines if line.startswith("| int8_wo | shapes-vqa | 3 of 16 |"))
    assert "cannot identify image file — ids 4, 7, 9" in row
    # fidelity: a summary column, its own section and chart
    header = next(line for line in lines if line.startswith("| recipe | kernels |"))
    assert "KL to bf16 (nats)" in header and "top-1 agree %" in header
    assert "static memory (GB)" in header and "VRAM" not in header
    assert "## Fidelity to the baseline" in text and "### shapes-vqa (n = 13)" in text
    with Image.open(tmp_path / "img" / "fidelity.png") as im:
        im.verify()
    # honesty: CPU and toy-sized timings are labelled, overlapping ranges are not a speed-up
    assert (
        "**Speed figures measured on the CPU and on a model of 3 M decoder parameters (< 100 M): not "
        "indicative of GPU deployment.**" in text
    )
    summary_row = next(line for line in lines if line.startswith("| int8_wo | real |"))
    assert "1.11x (within spread)" in summary_row
    recs = [line for line in lines if line.startswith("- *")]
    for rec in recs:
        if "ms/token" in rec or "decode speed" in rec:
            assert "not indicative of GPU deployment" in rec, rec
    assert "Fastest + smallest" not in text  # the two are different claims here
    assert any(line.startswith("- *Fastest*") and "no single fastest" in line for line in recs)
    assert any(line.startswith("- *Smallest* — **int8_wo**: smallest static memory (2 GB)") for line in recs)
    html = write_html(tmp_path).read_text()
    assert "<blockquote><b>Warning: more than 5% of the samples failed</b>" in html


def test_a_run_without_failures_says_so_and_warns_nowhere(tmp_path):
    spec = RunSpec(out=str(tmp_path), tasks=("shapes-vqa",), recipes=("bf16",))
    store = Store(tmp_path)
    store.set_outcome("bf16", "ok", kernel="real")
    for i in range(4):
        store.put_sample(
            {
                "recipe": "bf16",
                "task": "shapes-vqa",
                "sample_id": str(i),
                "output": "x",
                "score": 1.0,
                "target": ["x"] * 10,
                "meta": {"answer_type": "other", "question_type": "what"},
            }
        )
    text = write_report(store, spec, collect_records(store, spec)).read_text()
    assert "No sample failed." in text and "Warning: more than" not in text
    assert "No fidelity figures" in text


def test_kernel_profiles_get_their_own_table_not_an_empty_speed_point(tmp_path):
    """speed-profile records (decode per layer place, first token) are listed as a profile table, with what each
    kernel of a decoder layer adds to the step; they do not become speed points without metrics."""
    tasks = ("shapes-vqa", "speed", "speed-profile")
    spec = RunSpec(out=str(tmp_path), tasks=tasks, recipes=("bf16", "int8_wo", "bf16+kv_fp8"))
    store = Store(tmp_path)
    store.set_meta("provenance", {"device": "NVIDIA H200", "vlmq": "0.1.0"})
    _fill(store)
    places = [
        {"place": 0, "kernel": "gemv_kernel", "us": 4.6, "min": 4.5, "max": 5.0, "added_us": 4.1},
        {"place": 1, "kernel": "decode_attention_kernel", "us": 11.0, "min": 10.8, "max": 11.5, "added_us": 10.6},
    ]
    layer = {"start": 2, "period": 2, "layers": 28, "places": places, "outside": []}
    profile = [
        {
            "task": "speed-profile",
            "metric": "kernel_us_per_step",
            "value": 1547.0,
            "params": {"top": [], "layer": layer},
        },
        {"task": "speed-profile/ttft", "metric": "kernel_us_per_first_token", "value": 7140.0, "params": {"top": []}},
    ]
    store.put_measurements("bf16", [{**r, "ci_low": None, "ci_high": None, "n": 1} for r in profile])
    text = write_report(store, spec, collect_records(store, spec)).read_text()
    assert "### speed-profile" not in text
    assert "| bf16 | bs1 | 1547 | gemv 4.1 · decode_attention 10.6 |" in text
    assert "| bf16 | ttft | 7140 | – |" in text


def test_long_context_point_shows_each_kv_cache_size(tmp_path):
    """The speed-long point (8k-token cache x 16) shows the KV cache's size beside its decode time: the FP8 cache's
    half of the bytes is what it buys, so the report cannot leave it out."""
    spec = RunSpec(out=str(tmp_path), tasks=("speed-long",), recipes=("bf16", "bf16+kv_fp8"))
    store = Store(tmp_path)
    store.set_meta("provenance", {"device": "NVIDIA H200", "vlmq": "0.1.0"})
    point = {"task": "speed-long/ctx8192_bs16", "params": {"batch_size": 16}, "kernel": "real", "n": 3}
    for recipe, ms, gb in (("bf16", 2.821, 3.817), ("bf16+kv_fp8", 2.646, 1.968)):
        store.put_measurements(
            recipe,
            [
                {**point, "metric": "decode_ms_per_token", "value": ms, "ci_low": ms - 0.01, "ci_high": ms + 0.01},
                {**point, "metric": "mem_kv_cache_gb", "value": gb, "ci_low": None, "ci_high": None},
            ],
        )
    text = write_report(store, spec, collect_records(store, spec)).read_text()
    assert "| recipe | decode_ms_per_token | mem_kv_cache_gb |" in text
    assert "| bf16+kv_fp8 | 2.646 [2.636, 2.656] | 1.968 |" in text
