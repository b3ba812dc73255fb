"""The FP8-KV remedy experiment: every scale strategy (and a deliberately mis-scaled one) on one model,
measured by next-token KL against the BF16 cache, saturation per token type, the tasks' mean
per-sample scores of greedy answers, and cache bytes.

The mis-scaled setting reproduces the original study's mechanism on any model: visual scales set so
that visual K/V reach ``gain`` times FP8's range while text scales stay calibrated — what text-only
scales do to a model whose visual K/V are ``gain`` times larger than its text K/V.

    python -m vlmq.diagnose.remedy --model toy --limit 20 [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import torch

from vlmq.engine import Engine, KVConfig
from vlmq.models import load_model
from vlmq.pipeline import task_options
from vlmq.recipes import calibrate_kv_scales, load_calibration
from vlmq.spec import RunSpec
from vlmq.tasks import get_task

from .findings import saturation_summary
from .saturation import KVSaturationProbe, kv_scale_tables
from .sensitivity import kl_divergence

STRATEGIES = ("static_text_only", "static", "per_head", "visual_aware", "dynamic")
MIS_SCALED_GAIN = 4.0


def kv_settings(engine: Engine, calib, gain: float = MIS_SCALED_GAIN) -> dict[str, KVConfig]:
    """Label -> FP8 KVConfig: each strategy calibrated as a run does, plus the mis-scaled visual set."""
    settings = {s: KVConfig("fp8", s, calibrate_kv_scales(engine, calib, s)) for s in STRATEGIES}
    vis = settings["visual_aware"].scales
    mis = dataclasses.replace(vis, k_visual=vis.k_visual / gain, v_visual=vis.v_visual / gain)
    settings[f"visual_x{gain:g}_misscaled"] = KVConfig("fp8", "visual_aware", mis)
    return settings


def mean_scores(engine: Engine, samples: dict) -> dict[str, float]:
    """Task name -> mean per-sample score of greedy answers (the task's own parser and scorer)."""
    opts = task_options(RunSpec())
    out = {}
    for name, task_samples in samples.items():
        task = get_task(name)
        outputs = engine.generate([s.prompt for s in task_samples], task.max_new_tokens)
        scores = [task.score(s, g.text, opts)["score"] for s, g in zip(task_samples, outputs)]
        out[name] = sum(x for x in scores if x is not None) / max(1, sum(x is not None for x in scores))
    return out


def measure_setting(engine: Engine, kv: KVConfig, samples: dict, ref_logits: torch.Tensor, label: str) -> dict:
    """KL vs the BF16 cache, saturation by token type (prefill), task scores and cache bytes of one setting."""
    prompts = [s.prompt for task_samples in samples.values() for s in task_samples]
    engine.set_kv(kv)
    d = engine.decoder
    probe = KVSaturationProbe(kv_scale_tables(kv, d.num_layers, d.num_kv_heads))
    with engine.observe(probe):
        logits = torch.cat([engine.next_token_logits([p]) for p in prompts])
    summary = saturation_summary(probe.rows(label), label)
    kl = kl_divergence(ref_logits, logits)
    return {
        "setting": label,
        "strategy": kv.strategy,
        "kl_mean": float(kl.mean()),
        "kl_max": float(kl.max()),
        "top1_agreement": float((logits.argmax(-1) == ref_logits.argmax(-1)).float().mean()),
        "saturated_text": summary["by_token_type"].get("text", 0.0),
        "saturated_visual": summary["by_token_type"].get("visual", 0.0),
        "min_sqnr_db": summary["min_sqnr_db"],
        "cache_bytes": engine.cache.nbytes(),
        "scores": mean_scores(engine, samples),
    }


def remedy_experiment(loaded, samples: dict, calib, gain: float = MIS_SCALED_GAIN) -> list[dict]:
    """One row per KV setting (BF16 first) over ``samples`` ({task name: [Sample]}); byte ratios are
    against the BF16 cache of the same engine."""
    engine = Engine(loaded, max_batch_size=8)
    bf16_bytes = engine.cache.nbytes()
    ref = torch.cat([engine.next_token_logits([s.prompt]) for task_samples in samples.values() for s in task_samples])
    rows = [
        {
            "setting": "bf16",
            "strategy": "-",
            "kl_mean": 0.0,
            "kl_max": 0.0,
            "top1_agreement": 1.0,
            "saturated_text": 0.0,
            "saturated_visual": 0.0,
            "min_sqnr_db": float("inf"),
            "cache_bytes": bf16_bytes,
            "scores": mean_scores(engine, samples),
        }
    ]
    for label, kv in kv_settings(engine, calib, gain).items():
        rows.append(measure_setting(engine, kv, samples, ref, label))
    for row in rows:
        row["bytes_vs_bf16"] = row["cache_bytes"] / bf16_bytes
    return rows


def format_table(rows: list[dict]) -> str:
    tasks = list(rows[0]["scores"])
    lines = [
        "| setting | KL mean | KL max | top-1 agree | saturated text | saturated visual | min SQNR dB "
        "| cache bytes vs BF16 | " + " | ".join(f"{t} score" for t in tasks) + " |",
        "|---" * (8 + len(tasks)) + "|",
    ]
    for r in rows:
        scores = " | ".join(f"{r['scores'][t]:.3f}" for t in tasks)
        lines.append(
            f"| {r['setting']} | {r['kl_mean']:.3g} | {r['kl_max']:.3g} | {r['top1_agreement']:.2f} | "
            f"{r['saturated_text']:.3%} | {r['saturated_visual']:.3%} | {r['min_sqnr_db']:.1f} | "
            f"{r['bytes_vs_bf16']:.3f} | {scores} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlmq.diagnose.remedy", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy")
    parser.add_argument("--limit", type=int, default=20, help="samples per shapes task")
    parser.add_argument("--gain", type=float, default=MIS_SCALED_GAIN)
    parser.add_argument("--tasks", default="shapes-vqa,shapes-pope,shapes-mme")
    parser.add_argument("--out", help="also write the rows as JSON lines here")
    args = parser.parse_args(argv)
    opts = task_options(RunSpec(limit=args.limit))
    samples = {name: [s for s in get_task(name).load(opts) if not s.failed] for name in args.tasks.split(",")}
    rows = remedy_experiment(load_model(args.model), samples, load_calibration("builtin"), args.gain)
    print(format_table(rows))
    if args.out:
        with open(args.out, "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
