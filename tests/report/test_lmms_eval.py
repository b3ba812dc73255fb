"""lmms-eval-format files: the keys lmms-eval's own writer produces, its file names, and its baseline loader.

Keys written down from lmms-eval @ 75571cfe (v0.7.2 + 41; `lmms_eval/evaluator.py`, `evaluator_utils.py`
`consolidate_results`, `loggers/evaluation_tracker.py` `save_results_aggregated` / `save_results_samples`).
"""

import json
import re

import pytest

from vlmq.pipeline import collect_records
from vlmq.report import write_report
from vlmq.report.lmms_eval import CI_TO_STDERR, LMMS_DIR, POPE_YES_RATIO_NOTE
from vlmq.spec import RunSpec
from vlmq.store import Store

# evaluator.py results_dict + evaluator's results["config"/"git_hash"/"date"] + the tracker's additions
RESULTS_KEYS = {
    "results",
    "group_subtasks",
    "configs",
    "versions",
    "n-shot",
    "higher_is_better",
    "n-samples",
    "config",
    "git_hash",
    "date",
    "task_hashes",
    "model_source",
    "model_name",
    "model_name_sanitized",
    "system_instruction",
    "system_instruction_sha",
    "fewshot_as_multiturn",
    "chat_template",
    "chat_template_sha",
    "start_time",
    "end_time",
    "total_evaluation_time_seconds",
}
CONFIG_KEYS = {
    "model",
    "model_args",
    "model_backend",
    "batch_size",
    "batch_sizes",
    "device",
    "use_cache",
    "limit",
    "offset",
    "bootstrap_iters",
    "gen_kwargs",
    "random_seed",
    "numpy_seed",
    "torch_seed",
    "fewshot_seed",
}
N_SAMPLES_KEYS = {"original", "effective"}
# one samples line after save_results_samples (doc and arguments popped; per-sample metrics merged in)
SAMPLE_KEYS = {"doc_id", "target", "resps", "filtered_resps", "doc_hash"}
RESULTS_FILE = re.compile(r"^\d{8}_\d{6}_results\.json$")  # f"{date_id}_results.json", date "%Y%m%d_%H%M%S"
SAMPLES_FILE = re.compile(r"^\d{8}_\d{6}_samples_(.+)\.jsonl$")  # f"{date_id}_samples_{task_name}.jsonl"


@pytest.fixture()
def run(tmp_path):
    """bf16 and fp8 on a POPE-style task (one failed sample), with fidelity rows; report written."""
    store = Store(tmp_path)
    store.set_meta("provenance", {"device": "cpu (x86_64, 2 threads)", "vlmq": "0.1.0", "git_commit": "abc123"})
    answers = {"bf16": ["Yes", "No", "Yes", "No", "Yes", "No"], "fp8": ["Yes", "No", "No", "No", "Yes", "Yes"]}
    for recipe, outs in answers.items():
        store.set_outcome(recipe, "ok", kernel="real" if recipe == "bf16" else "emulated")
        for i, out in enumerate(outs):
            target = "yes" if i % 2 == 0 else "no"
            row = {
                "recipe": recipe,
                "task": "shapes-pope",
                "sample_id": f"random/{i}",
                "output": out,
                "parsed": out.lower(),
                "score": float(out.lower() == target),
                "target": target,
                "meta": {"category": "random", "question_id": str(i), "image_source": "x"},
            }
            if recipe == "fp8" and i == 5:
                row.update(output="", parsed=None, score=None, error="unreadable image: OSError: truncated")
            store.put_sample(row)
            if row.get("error"):
                continue  # the fidelity pass skips failed samples
            fid = (
                {"tokens": [1], "top_ids": [[1]], "top_logprobs": [[-0.1]], "rest_logprob": [-2.3]}
                if recipe == "bf16"
                else {
                    "kl_mean": 0.01 * i,
                    "kl_max": 0.01 * i,
                    "top1_agreement": 1.0,
                    "kl": [0.01 * i],
                    "top1": [True],
                    "positions": 1,
                }
            )
            store.put_sample(
                {"recipe": recipe, "task": "shapes-pope#fidelity", "sample_id": f"random/{i}", "parsed": fid}
            )
    spec = RunSpec(out=str(tmp_path), tasks=("shapes-pope",), recipes=("bf16", "fp8"))
    records = collect_records(store, spec)
    write_report(store, spec, records)
    return tmp_path, store, spec, records


def files(folder):
    results = [p for p in folder.iterdir() if RESULTS_FILE.match(p.name)]
    samples = {SAMPLES_FILE.match(p.name).group(1): p for p in folder.iterdir() if SAMPLES_FILE.match(p.name)}
    return results, samples


def test_results_file_has_lmms_evals_keys_and_metric_names(run):
    out, _, _, records = run
    results, samples = files(out / LMMS_DIR / "fp8")
    assert len(results) == 1 and set(samples) == {"shapes-pope"}
    data = json.loads(results[0].read_text())
    assert RESULTS_KEYS <= set(data) and CONFIG_KEYS <= set(data["config"])
    assert data["date"] == results[0].name.split("_results")[0]
    pope = data["results"]["shapes-pope"]
    assert pope["alias"] == "shapes-pope" and pope["samples"] == 5
    for metric in ("accuracy", "f1", "yes_ratio", "kl_mean", "top1_agreement", "flips_to_wrong"):
        assert f"{metric},none" in pope and f"{metric}_stderr,none" in pope
    rec = next(r for r in records if r["recipe"] == "fp8" and r["task"] == "shapes-pope" and r["metric"] == "f1")
    assert pope["f1,none"] == rec["value"]
    assert pope["f1_stderr,none"] == pytest.approx((rec["ci_high"] - rec["ci_low"]) / CI_TO_STDERR)
    assert {"shapes-pope/random", "all"} <= set(data["results"])
    assert set(data["n-samples"]["shapes-pope"]) == N_SAMPLES_KEYS
    assert data["higher_is_better"]["shapes-pope"]["kl_mean"] is False
    assert data["higher_is_better"]["shapes-pope"]["accuracy"] is True
    assert data["configs"]["shapes-pope"]["generation_kwargs"]["max_new_tokens"] == 128
    # the POPE yes_ratio caveat travels with the file
    assert data["configs"]["shapes-pope"]["metadata"]["pope_yes_ratio"] == POPE_YES_RATIO_NOTE
    assert data["config"]["vlmq"]["pope_yes_ratio"] == POPE_YES_RATIO_NOTE
    assert data["config"]["vlmq"]["recipe"] == "fp8" and data["git_hash"] == "abc123"


def test_samples_file_lines_pair_across_recipes(run):
    out, _, _, _ = run
    lines = {
        recipe: [json.loads(line) for line in files(out / LMMS_DIR / recipe)[1]["shapes-pope"].read_text().splitlines()]
        for recipe in ("bf16", "fp8")
    }
    for rows in lines.values():
        assert [r["doc_id"] for r in rows] == list(range(6))
        for row in rows:
            assert SAMPLE_KEYS <= set(row)
            assert isinstance(row["target"], str) and row["resps"] == [row["filtered_resps"]]
    by_doc = {r["doc_id"]: r for r in lines["fp8"]}
    assert [r["vlmq_sample_id"] for r in lines["bf16"]] == [r["vlmq_sample_id"] for r in lines["fp8"]]
    assert by_doc[2]["score"] == 0.0 and by_doc[2]["filtered_resps"] == "No"
    assert by_doc[2]["kl_mean"] == pytest.approx(0.02) and "kl_mean" not in lines["bf16"][2]
    assert by_doc[5]["score"] is None and by_doc[5]["vlmq_error"].startswith("unreadable image")


def test_rendering_again_rewrites_the_same_files(run):
    out, store, spec, _ = run
    before = sorted(p.name for p in (out / LMMS_DIR / "fp8").iterdir())
    texts = [p.read_text() for p in sorted((out / LMMS_DIR / "fp8").iterdir())]
    write_report(store, spec, collect_records(store, spec))
    assert sorted(p.name for p in (out / LMMS_DIR / "fp8").iterdir()) == before
    assert [p.read_text() for p in sorted((out / LMMS_DIR / "fp8").iterdir())] == texts


def test_lmms_evals_own_baseline_loader_reads_the_files(run):
    """lmms-eval installs with --no-deps cheaply on CPU (`pip install --no-deps lmms-eval==0.7.3`); the
    loader of its --baseline comparison needs only the standard library."""
    loader = pytest.importorskip("lmms_eval.baselines.loader")
    out, _, _, _ = run
    samples = files(out / LMMS_DIR / "fp8")[1]["shapes-pope"]
    scores, aggregated = loader.load_baseline(str(samples), "shapes-pope")
    assert scores == {0: 1.0, 1: 1.0, 2: 0.0, 3: 1.0, 4: 1.0}  # the failed doc 5 has no score
    assert aggregated["results"]["shapes-pope"]["samples"] == 5
