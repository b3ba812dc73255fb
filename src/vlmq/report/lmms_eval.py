"""lmms-eval-format result files beside results.jsonl, so lmms-eval's tooling reads a vlmq run.

Per recipe, in ``OUT/lmms_eval/<recipe>/`` (names as lmms-eval's ``EvaluationTracker`` writes them, so
its ``--baseline`` loader finds the results file next to a samples file):

- ``<date>_results.json``: ``results`` keyed by task with ``"<metric>,none"`` and
  ``"<metric>_stderr,none"`` (and ``alias``, ``samples``), ``group_subtasks``, ``configs``, ``versions``,
  ``n-shot``, ``higher_is_better``, ``n-samples``, ``config``, ``git_hash``, ``date``, ``task_hashes``
  and the tracker's model fields. Fidelity metrics (``kl_mean``, ...) sit under the task they were
  measured on; task ``all`` pools them. Speed figures are not exported (lmms-eval has no schema for them).
- ``<date>_samples_<task>.jsonl``: one line per stored sample with ``doc_id``, ``target`` (a string, as
  lmms-eval writes it), ``resps``, ``filtered_resps``, ``doc_hash``, the per-sample ``score`` (the key
  lmms-eval's baseline comparison reads) and, against the baseline, ``kl_mean``, ``kl_max``,
  ``top1_agreement``.

``<date>`` is the time of the recipe's last stored sample (UTC), so re-rendering a run rewrites the same
files; earlier exports in the folder are replaced. ``stderr`` is derived from vlmq's 95% percentile-
bootstrap interval as (high - low) / 3.92 (the normal approximation lmms-eval's bootstrap stderr
assumes); "N/A" where the interval is undefined, as lmms-eval writes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path

from vlmq.errors import VlmqError
from vlmq.spec import RunSpec
from vlmq.tasks import get_task
from vlmq.tasks.fidelity import fidelity_store_task, is_fidelity_store_task

LMMS_DIR = "lmms_eval"
FILTER = "none"  # lmms-eval's key suffix when no filter pipeline is configured
CI_TO_STDERR = 2 * 1.959963984540054
LOWER_IS_BETTER = {"kl_mean", "kl_max", "flips_to_wrong", "changed_answers"}
POPE_YES_RATIO_NOTE = (
    "vlmq's yes_ratio is the share of the model's answers parsed as 'yes' (the official POPE "
    "definition) in both scoring modes; lmms-eval's pope_yes_ratio counts the ground-truth "
    "labels instead (always 0.5 on balanced POPE)"
)
STDERR_NOTE = "stderr = (ci_high - ci_low) / 3.92 of vlmq's 95% percentile-bootstrap interval (1000 resamples)"


def write_lmms_eval(store, spec: RunSpec, records: list[dict], rows: list[dict] | None = None) -> list[Path]:
    """Write every ok recipe's lmms-eval files; returns the paths written. ``rows``: the stored sample rows
    without the fidelity rows, when the caller has them already."""
    meta = store.get_meta("provenance") or {}
    if rows is None:
        rows = [r for r in store.samples() if not is_fidelity_store_task(r["task"])]
    doc_ids = _doc_ids(rows)
    written = []
    for recipe, outcome in store.outcomes().items():
        mine = [r for r in rows if r["recipe"] == recipe]
        if outcome.get("status") != "ok" or not mine:
            continue
        folder = Path(store.run_dir) / LMMS_DIR / _safe(recipe)
        folder.mkdir(parents=True, exist_ok=True)
        for old in [*folder.glob("*_results.json"), *folder.glob("*_samples_*.jsonl")]:
            old.unlink()
        date = datetime.fromtimestamp(max(r["created"] for r in mine), timezone.utc).strftime("%Y%m%d_%H%M%S")
        samples = {}
        for task in dict.fromkeys(r["task"] for r in mine):
            fidelity = {r["sample_id"]: r["parsed"] for r in store.samples(recipe, fidelity_store_task(task))}
            samples[task] = lmms_samples([r for r in mine if r["task"] == task], fidelity, doc_ids[task])
            path = folder / f"{date}_samples_{_safe(task)}.jsonl"
            path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in samples[task]))
            written.append(path)
        summary = lmms_results(
            recipe,
            [r for r in records if r["recipe"] == recipe],
            spec,
            meta,
            samples,
            {task: len(ids) for task, ids in doc_ids.items()},
            date,
            outcome.get("kernel"),
        )
        path = folder / f"{date}_results.json"
        path.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        written.append(path)
    return written


def lmms_samples(rows: list[dict], fidelity: dict[str, dict], doc_ids: dict[str, int]) -> list[dict]:
    """The samples-file lines of one recipe and task (stored rows in, JSON-able dicts out)."""
    out = []
    for row in sorted(rows, key=lambda r: doc_ids[r["sample_id"]]):
        doc = {"sample_id": row["sample_id"], "target": row.get("target"), "meta": row.get("meta")}
        output = row.get("output") or ""
        line = {
            "doc_id": doc_ids[row["sample_id"]],
            "target": "" if row.get("target") is None else str(row["target"]),
            "resps": [output],
            "filtered_resps": output,
            "doc_hash": _hash(json.dumps(doc, indent=2, ensure_ascii=False, default=str)),
            "score": row.get("score"),
            "vlmq_sample_id": row["sample_id"],
            "vlmq_parsed": row.get("parsed"),
        }
        if row.get("error"):
            line["vlmq_error"] = row["error"]
        ours = fidelity.get(row["sample_id"])
        if ours and "kl_mean" in ours:
            line.update(kl_mean=ours["kl_mean"], kl_max=ours["kl_max"], top1_agreement=ours["top1_agreement"])
        out.append(line)
    return out


def lmms_results(
    recipe: str,
    records: list[dict],
    spec: RunSpec,
    meta: dict,
    samples: dict[str, list[dict]],
    n_docs: dict[str, int],
    date: str,
    kernel: str | None,
) -> dict:
    """The results-file dict of one recipe from its records (pure)."""
    results: dict[str, dict] = {}
    for rec in records:
        if rec["task"].startswith("speed") or rec.get("value") is None or "metric" not in rec:
            continue
        entry = results.setdefault(rec["task"], {"alias": rec["task"]})
        entry[f"{rec['metric']},{FILTER}"] = rec["value"]
        entry[f"{rec['metric']}_stderr,{FILTER}"] = _stderr(rec)
        entry["samples"] = max(entry.get("samples", 0), rec.get("n") or 0)
    tasks = sorted(results)
    return {
        "results": results,
        "group_subtasks": {task: [] for task in tasks},
        "configs": {task: _task_config(task, spec) for task in tasks},
        "versions": {task: meta.get("vlmq") for task in tasks},
        "n-shot": {task: 0 for task in tasks},
        "higher_is_better": {
            task: {
                k.split(",")[0]: _higher_is_better(k.split(",")[0])
                for k in results[task]
                if k.endswith(f",{FILTER}") and "_stderr" not in k
            }
            for task in tasks
        },
        "n-samples": {
            task: {"original": n_docs.get(task, results[task]["samples"]), "effective": results[task]["samples"]}
            for task in tasks
        },
        "config": _run_config(recipe, spec, meta, kernel),
        "git_hash": meta.get("git_commit"),
        "date": date,
        "task_hashes": {
            task: _hash("".join(f"sample_{i}" + s["doc_hash"] for i, s in enumerate(lines)))
            for task, lines in samples.items()
        },
        "model_source": "vlmq",
        "model_name": spec.model,
        "model_name_sanitized": _safe(spec.model),
        "system_instruction": None,
        "system_instruction_sha": None,
        "fewshot_as_multiturn": False,
        "chat_template": None,
        "chat_template_sha": None,
        "start_time": None,
        "end_time": None,
        "total_evaluation_time_seconds": None,
    }


def _run_config(recipe: str, spec: RunSpec, meta: dict, kernel: str | None) -> dict:
    return {
        "model": spec.model,
        "model_args": f"pretrained={spec.model},recipe={recipe}",
        "model_backend": f"vlmq ({kernel or 'unknown'} kernels)",
        "batch_size": spec.batch_size,
        "batch_sizes": [],
        "device": meta.get("device"),
        "use_cache": None,
        "limit": spec.limit,
        "offset": 0,
        "bootstrap_iters": 1000,
        "gen_kwargs": "",
        "random_seed": spec.seed,
        "numpy_seed": spec.seed,
        "torch_seed": spec.seed,
        "fewshot_seed": None,
        "vlmq": {
            "recipe": recipe,
            "kernel": kernel,
            "baseline": spec.baseline,
            "scoring": spec.scoring,
            "jpeg_quality": spec.jpeg_quality,
            "stderr": STDERR_NOTE,
            "pope_yes_ratio": POPE_YES_RATIO_NOTE,
            "spec": spec.to_dict(),
        },
    }


def _task_config(task: str, spec: RunSpec) -> dict:
    config = {
        "task": task,
        "output_type": "generate_until",
        "metadata": {"version": None, "scoring": spec.scoring, "stderr": STDERR_NOTE},
    }
    try:
        config["generation_kwargs"] = {
            "max_new_tokens": get_task(task).max_new_tokens,
            "temperature": 0,
            "do_sample": False,
            "num_beams": 1,
        }
    except VlmqError:  # the pooled fidelity task `all`
        config["metadata"]["note"] = "fidelity to the baseline pooled over every task of the run"
    if "pope" in task.split("/")[0]:
        config["metadata"]["pope_yes_ratio"] = POPE_YES_RATIO_NOTE
    return config


def _higher_is_better(metric: str) -> bool | None:
    if metric == "yes_ratio":
        return None  # a calibration figure: closer to the label ratio is better, neither direction
    return metric not in LOWER_IS_BETTER


def _stderr(rec: dict):
    if rec.get("ci_low") is None or rec.get("ci_high") is None:
        return "N/A"
    return (rec["ci_high"] - rec["ci_low"]) / CI_TO_STDERR


def _doc_ids(rows: list[dict]) -> dict[str, dict[str, int]]:
    """task -> sample id -> doc_id: one index per sample over every recipe, so doc_ids pair across recipes."""
    ids: dict[str, set] = {}
    for row in rows:
        ids.setdefault(row["task"], set()).add(row["sample_id"])
    return {task: {sid: i for i, sid in enumerate(sorted(found))} for task, found in ids.items()}


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _safe(name: str) -> str:
    """A file-name-safe form of a recipe, task or model name (lmms-eval's sanitize: non-word -> '_')."""
    return re.sub(r"[^\w.+=-]", "_", name)
