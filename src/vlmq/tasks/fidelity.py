"""Fidelity to the run's baseline on the prompts each recipe was evaluated on, and the label-free
`fidelity` task (the user's own images and prompts, `vlmq.tasks.prompt_set`).

Data flow; nothing vocabulary-wide reaches the store (see `vlmq.metrics.fidelity` for the KL bound):

1. The baseline generates its greedy answer, is teacher-forced on it, and stores per sample, under
   the store task ``<task>#fidelity``: the answer's token ids and, per position, its top-k
   log-probabilities and the log of the remaining mass.
2. Every other recipe is teacher-forced on the baseline's tokens (`Engine.teacher_forced_logprobs`)
   and stores per position the bucketed KL and whether its top-1 token agrees, and their summary.
3. `fidelity_records` turns those rows, and the tasks' own rows for flips and changed answers, into
   metric records (kind ``fidelity``) with 95% bootstrap intervals over samples: task ``<task>``,
   metrics ``kl_mean, kl_max, top1_agreement, flips_to_wrong, flips_to_right, changed_answers``, and
   the same pooled over every task of the run as task ``all``.

A recipe whose baseline reference is missing (baseline not in the run, or not run yet) gets no
fidelity rows; they are filled in when the run is resumed after the baseline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np

from vlmq.metrics.fidelity import FIDELITY_METRICS, answer_fidelity, flips, mean_with_ci, reference_from_logprobs
from vlmq.store import prompt_hash
from vlmq.tasks.base import Sample, Task, TaskOptions, metric_record

STORE_SUFFIX = "#fidelity"
POOLED_TASK = "all"
KIND = "fidelity"
# Per-sample statistics whose run-level figure is not a mean.
STATISTIC = {"kl_max": np.max}


def fidelity_store_task(task: str) -> str:
    """The store's task key of the fidelity rows of ``task`` (apart from its generation rows)."""
    return task + STORE_SUFFIX


def is_fidelity_store_task(task: str) -> bool:
    return task.endswith(STORE_SUFFIX)


def run_fidelity_pass(
    engine,
    task: Task,
    samples: list[Sample],
    store,
    recipe: str,
    baseline: str,
    batch_size: int,
    progress,
    rank: int = 0,
) -> int:
    """Store the fidelity rows of one recipe and task that are not stored yet; returns how many.

    The baseline stores its references; any other recipe its comparison with them (only for samples
    whose reference is stored). ``progress`` needs ``bar(total, desc)``.
    """
    key = fidelity_store_task(task.name)
    done = store.done_ids(recipe, key)
    todo = [s for s in samples if not s.failed and s.id not in done]
    if recipe == baseline:

        def step(batch):
            return _reference_batch(engine, task.max_new_tokens, batch)
    else:
        refs = {row["sample_id"]: row["parsed"] for row in store.samples(baseline, key)}
        todo = [s for s in todo if s.id in refs]

        def step(batch):
            return _compare_batch(engine, refs, batch)

    with progress.bar(len(todo), f"{recipe} · {task.name} · fidelity") as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            for sample, output, parsed in step(batch):
                store.put_sample(
                    {
                        "recipe": recipe,
                        "task": key,
                        "sample_id": sample.id,
                        "output": output,
                        "prompt_hash": prompt_hash(sample.prompt.text, sample.prompt.image),
                        "parsed": parsed,
                        "score": None,
                        "meta": {"baseline": baseline},
                        "rank": rank,
                    }
                )
            bar.update(len(batch))
    return len(todo)


def _reference_batch(engine, max_new_tokens: int, batch: list[Sample]) -> Iterator[tuple[Sample, str, dict]]:
    prompts = [s.prompt for s in batch]
    generations = engine.generate(prompts, max_new_tokens)
    logprobs = engine.teacher_forced_logprobs(prompts, [g.token_ids for g in generations])
    for sample, generation, rows in zip(batch, generations, logprobs):
        yield sample, generation.text, {"tokens": generation.token_ids, **reference_from_logprobs(rows.cpu())}


def _compare_batch(engine, refs: dict, batch: list[Sample]) -> Iterator[tuple[Sample, None, dict]]:
    logprobs = engine.teacher_forced_logprobs([s.prompt for s in batch], [refs[s.id]["tokens"] for s in batch])
    for sample, rows in zip(batch, logprobs):
        yield sample, None, answer_fidelity(refs[sample.id], rows.cpu())


def fidelity_records(store, tasks: list[Task], recipes: list[str], baseline: str, opts: TaskOptions) -> list[dict]:
    """Fidelity records of every recipe but the baseline, per task and pooled (task ``all``)."""
    records: list[dict] = []
    pooled: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for task in tasks:
        key = fidelity_store_task(task.name)
        references = store.samples(baseline, key)
        if not references:
            continue
        extra = {"approximation": f"top-{len(references[0]['parsed']['top_ids'][0])} tokens + rest bucket"}
        base_rows = store.samples(baseline, task.name)
        for recipe in recipes:
            rows = store.samples(recipe, key)
            if recipe == baseline or not rows:
                continue
            task_rows = store.samples(recipe, task.name)
            values = per_sample_values(rows, base_rows, task_rows)
            n_failed = sum(1 for row in task_rows if row.get("error"))
            records += _records(recipe, task.name, values, opts, n_failed, baseline, extra)
            for metric, items in values.items():
                pooled[recipe][metric] += items
    for recipe, values in pooled.items():
        records += _records(recipe, POOLED_TASK, values, opts, 0, baseline, {"approximation": "as per task"})
    return records


def per_sample_values(fidelity_rows: list[dict], base_rows: list[dict], rows: list[dict]) -> dict[str, list[float]]:
    """Metric -> per-sample values: KL and agreement from the fidelity rows; flips from the paired
    scored rows; changed answers from the paired generated rows (label-free tasks too)."""
    values = {
        "kl_mean": [r["parsed"]["kl_mean"] for r in fidelity_rows],
        "kl_max": [r["parsed"]["kl_max"] for r in fidelity_rows],
        "top1_agreement": [r["parsed"]["top1_agreement"] for r in fidelity_rows],
    }
    by_id = {row["sample_id"]: row for row in rows if not row.get("error")}
    pairs = [
        (base, by_id[base["sample_id"]]) for base in base_rows if not base.get("error") and base["sample_id"] in by_id
    ]
    scored = [(b["score"], r["score"]) for b, r in pairs if b.get("score") is not None and r.get("score") is not None]
    if scored:
        values["flips_to_wrong"], values["flips_to_right"] = flips(*zip(*scored))
    if pairs:
        values["changed_answers"] = [float(b.get("output") != r.get("output")) for b, r in pairs]
    return values


def _records(
    recipe: str, task: str, values: dict[str, list[float]], opts: TaskOptions, n_failed: int, baseline: str, extra: dict
) -> list[dict]:
    out = []
    for metric in FIDELITY_METRICS:
        items = values.get(metric)
        if not items:
            continue
        value, ci = mean_with_ci(items, seed=opts.seed, statistic=STATISTIC.get(metric, np.mean))
        record = metric_record(task, metric, value, ci, len(items), opts, n_failed)
        out.append({"recipe": recipe, **record, "kind": KIND, "baseline": baseline, **extra})
    return out
