"""The `vlmq` command. Run flags are generated from the RunSpec fields, so defaults live in one place."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from typing import Callable

from vlmq.console import quiet_libraries
from vlmq.errors import VlmqError
from vlmq.spec import RunSpec, load_spec_file, spec_from_mapping

# The embedded default needs no network: never let a library wait on the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _add_spec_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec", help="TOML run spec (a path, or a shipped spec such as 'original-study'); flags override it"
    )
    for f in fields(RunSpec):
        flag = "--" + f.name.replace("_", "-")
        help_ = f"{f.metadata.get('help', '')} (default: {_show_default(f.default)})"
        if str(f.type).startswith("bool") and f.default is False:
            parser.add_argument(flag, dest=f.name, action="store_const", const=True, default=None, help=help_)
        else:
            parser.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), help=help_)
    parser.add_argument("--fresh", action="store_true", help="discard earlier results in --out and start over")


def _show_default(value) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


def _spec_from_args(args: argparse.Namespace, overrides: dict | None = None) -> RunSpec:
    values = load_spec_file(args.spec) if args.spec else {}
    source = f"spec file '{args.spec}'" if args.spec else "flags"
    spec = spec_from_mapping(values, source=source)
    flags = {f.name: getattr(args, f.name) for f in fields(RunSpec) if getattr(args, f.name, None) is not None}
    for name, value in (overrides or {}).items():
        flags.setdefault(name, value)
    return spec_from_mapping(flags, base=spec, source="flags")


def cmd_run(args: argparse.Namespace, overrides: dict | None = None) -> int:
    from vlmq.workflow import run

    spec = _spec_from_args(args, overrides)
    result = run(spec, fresh=args.fresh, debug=args.debug)
    if not result.is_main:
        return 0
    _print_outcomes(result, spec.out)
    return 0 if result.any_ok else 1


def _print_outcomes(result, out: str) -> None:
    """One line per recipe, then every (recipe, task) with failed samples and why, then where the report is."""
    for recipe, outcome in result.outcomes.items():
        reason = f": {outcome['reason']}" if outcome.get("reason") else ""
        kernel = f" ({outcome['kernel']})" if outcome.get("kernel") else ""
        print(f"{recipe:<28} {outcome['status']}{kernel}{reason}")
    for failure in result.failures:
        warn = "  WARNING: more than 5% failed" if failure.alarming else ""
        print(f"{failure.recipe} · {failure.task}: {failure.describe()}{warn}")
    if result.note:
        print(result.note)
    print(f"report: {os.path.join(out, 'report.md')}")


def cmd_speed(args: argparse.Namespace) -> int:
    return cmd_run(args, overrides={"tasks": "speed"})


def cmd_eval(args: argparse.Namespace) -> int:
    return cmd_run(args, overrides={"tasks": "shapes-vqa,shapes-pope,shapes-mme"})


def cmd_report(args: argparse.Namespace) -> int:
    from vlmq.workflow import rerender

    path = rerender(args.run_dir, html=args.html)
    if args.html:
        print(f"html: {path}")
    print(f"report: {os.path.join(args.run_dir, 'report.md')}")
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    from vlmq.recipes import format_recipe_table

    print(format_recipe_table())
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from vlmq.tasks import list_tasks

    for task in list_tasks():
        kind = "samples" if task.sharded else "measure"
        print(f"{task.name:<24} {kind:<8} max_new_tokens={task.max_new_tokens:<5} {_first_line(task.__doc__)}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from vlmq.models import list_models

    for name, description in list_models():
        print(f"{name:<18} {description}")
    return 0


def cmd_toy(args: argparse.Namespace) -> int:
    if not args.toy_args or args.toy_args[0] != "train":
        raise VlmqError("usage: vlmq toy train --out DIR [--force] [--device cuda] (see vlmq toy train --help)")
    from vlmq.toy.train import main as toy_train

    return toy_train(args.toy_args[1:]) or 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from vlmq.diagnose import run_diagnosis

    spec = _spec_from_args(args, overrides={"recipes": "fp8+kv_fp8_text", "diagnose": True})
    out = run_diagnosis(spec, fresh=args.fresh)
    print(f"diagnosis: {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the deployable checkpoint of one recipe (docs/deploy.md)."""
    import json
    import pathlib

    from vlmq.recipes import ExportCalibration, export_checkpoint

    records = None
    if args.run:
        results = pathlib.Path(args.run) / "results.jsonl"
        if not results.is_file():
            raise VlmqError(f"--run {args.run} has no results.jsonl; pass the --out folder of a finished `vlmq run`")
        records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    calibration = ExportCalibration(
        source=args.calib_source,
        n=args.calib_n,
        seed=args.seed,
        languages=tuple(x for x in args.calib_languages.split(",") if x),
    )
    out = export_checkpoint(
        args.model,
        args.recipe,
        args.out,
        fmt=args.format,
        force=args.force,
        device=args.device,
        calibration=calibration,
        records=records,
    )
    print(f"export: {out}")
    return 0


def _add_export_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a recipe's quantized checkpoint (compressed-tensors or torchao)",
        description="quantize --model with --recipe as vlmq measures it and write the checkpoint",
    )
    p.add_argument("--model", required=True, help="toy, tiny, a Qwen2-VL-family folder or hub id")
    p.add_argument("--recipe", required=True, help="one recipe name, e.g. int4_awq or fp8+kv_fp8 (vlmq recipes)")
    p.add_argument("--out", required=True, help="folder to write (must be empty unless --force)")
    p.add_argument(
        "--format",
        default="compressed-tensors",
        help="compressed-tensors (vLLM, SGLang, transformers; default) or torchao (transformers)",
    )
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.add_argument("--device", default="cpu", help="where to quantize: cpu | cuda | cuda:N (default: cpu)")
    p.add_argument("--calib-source", default="builtin", help="calibration set, as in vlmq run (default: builtin)")
    p.add_argument("--calib-n", type=int, default=32, help="calibration samples (default: 32)")
    p.add_argument("--calib-languages", default="en", help="calibration languages, e.g. en,de,zh (default: en)")
    p.add_argument("--seed", type=int, default=0, help="calibration seed, as in vlmq run (default: 0)")
    p.add_argument("--run", help="a finished run's --out folder: the model card quotes its figures for this recipe")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    p.set_defaults(func=cmd_export)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlmq", description=_first_line(__import__("vlmq").__doc__))
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: list[tuple[str, Callable, str, bool]] = [
        ("run", cmd_run, "the whole pipeline: recipes x tasks -> results.jsonl + report.md", True),
        ("speed", cmd_speed, "speed only (TTFT, decode, VRAM) for the given recipes", True),
        ("eval", cmd_eval, "accuracy only (default: the shapes tasks)", True),
        ("diagnose", cmd_diagnose, "failure-mode diagnosis: K/V ranges, saturation, sensitivity", True),
        ("recipes", cmd_recipes, "list recipes and switches", False),
        ("tasks", cmd_tasks, "list tasks", False),
        ("models", cmd_models, "list built-in models and presets", False),
    ]
    for name, func, help_, has_spec in commands:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        if has_spec:
            _add_spec_flags(p)
        p.set_defaults(func=func)
    p = sub.add_parser("report", help="re-render a run's report from its stored results")
    p.add_argument("run_dir")
    p.add_argument("--html", action="store_true", help="also write report.html with images embedded")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    p.set_defaults(func=cmd_report)
    _add_export_parser(sub)
    p = sub.add_parser("toy", help="the shipped toy model: `vlmq toy train --out DIR`", add_help=False)
    p.add_argument("toy_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_toy)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "debug", False):
        quiet_libraries()
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    args.debug = getattr(args, "debug", False)
    try:
        return args.func(args)
    except VlmqError as err:
        if args.debug:
            raise
        print(f"vlmq: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", None) or getattr(args, "run_dir", None)
        print(
            f"vlmq: interrupted; everything finished so far is saved{f' in {out}' if out else ''}: "
            "rerun the same command to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
