"""``vlmq export``: write the checkpoint a user deploys, quantized exactly as vlmq measured it.

The model is loaded, calibrated with the run's calibration settings and quantized by the recipe
(``apply_recipe``), FP8 KV scales are calibrated as in a run (``prepare_engine``), and vlmq's stored
tensors are written as they are (no re-quantization):

- ``compressed-tensors`` (default; vLLM, SGLang, transformers): export_ct.py;
- ``torchao`` (transformers with ``TorchAoConfig``): export_torchao.py.

Tokenizer, processor, chat template and generation config are copied from the source folder; a model
card (README.md) records the recipe, the calibration set, the vlmq version and, given a run's records,
its headline figures. Everything is written to a temporary folder next to ``out`` and renamed into
place, so a failure leaves nothing half-written; a non-empty ``out`` is refused without ``force``.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import tempfile
from dataclasses import dataclass

from vlmq.errors import VlmqError

from .registry import RecipeSpec, parse_recipe

EXPORT_FORMATS = ("compressed-tensors", "torchao")
# what serving needs besides the weights (copied when the source folder has them)
PROCESSING_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
    "generation_config.json",
)
_QKV, _GATE_UP = ("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj")
MAX_CARD_ROWS = 24


@dataclass(frozen=True)
class ExportCalibration:
    """The calibration settings of the run whose measurement is exported (the RunSpec's ``calib_*`` and ``seed``)."""

    source: str = "builtin"
    n: int = 32
    languages: tuple[str, ...] = ("en",)
    seed: int = 0


def export_refusal(spec: RecipeSpec, fmt: str) -> str | None:
    """Pure: why ``spec`` cannot be written as ``fmt`` (one line), or None when it can."""
    if spec.linear_format is None and spec.kv.dtype != "fp8":
        return "bf16 quantizes nothing; serve the original checkpoint"
    if spec.fp8_attention:
        return "fp8_attention (FP8 Q/K/V and probabilities) is an emulated study path that no serving engine runs"
    if spec.include_lm_head:
        return "the export keeps lm_head in BF16 (vLLM ties or shards it unquantized); drop +lm_head"
    for group in (_QKV, _GATE_UP):
        kept = set(spec.keep_types) & set(group)
        if kept and kept != set(group):
            return (
                f"keep={':'.join(sorted(kept))} gives the {'/'.join(group)} of a layer different schemes, which "
                f"vLLM fuses into one linear and refuses; keep all of {', '.join(group)} or none"
            )
    fmt_ = spec.linear_format
    if fmt_ is not None and fmt_.weight == "nvfp4" and fmt_.activation != "nvfp4":
        return "nvfp4+act=fp8 (NVFP4 weights, FP8 activations) has no compressed-tensors scheme or kernel"
    if fmt == "torchao":
        return _torchao_refusal(spec)
    if spec.kv.strategy == "visual_aware" and spec.kv.dtype == "fp8":
        return "kv_fp8_vis keeps separate K/V scales for visual tokens; kv_cache_scheme holds one per tensor or head"
    if spec.kv.strategy == "dynamic" and spec.kv.dtype == "fp8":
        return (
            "kv_fp8_dyn computes K/V scales per token at run time; kv_cache_scheme stores static scales "
            "(serve with --kv-cache-dtype fp8 instead)"
        )
    return None


def _torchao_refusal(spec: RecipeSpec) -> str | None:
    if spec.kv.dtype == "fp8":
        return "a torchao checkpoint carries no KV-cache scales; export it as compressed-tensors"
    if spec.keeps:
        return "mixed precision (keep=/keep8=) is exported as compressed-tensors only"
    if spec.linear_format.weight == "nvfp4":
        return "NVFP4 is exported as compressed-tensors only (torchao's NVFP4Tensor has no transformers loader here)"
    return None


def check_out(out: pathlib.Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise VlmqError(f"--out {out} is a file; pass a folder path")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise VlmqError(f"--out {out} is not empty; pass --force to replace it or choose another folder")


def source_folder(loaded) -> pathlib.Path:
    """The checkpoint folder a model was loaded from (tokenizer, processor and chat template live there)."""
    folder = pathlib.Path(getattr(loaded.model.config, "_name_or_path", "") or "")
    if not (folder / "config.json").is_file():
        raise VlmqError(
            f"model {loaded.name!r} has no checkpoint folder (a random-weight preset); export a saved "
            "Qwen2-VL model folder, 'toy' or a 'tiny' model"
        )
    return folder


def export_checkpoint(
    model: str,
    recipe: str,
    out,
    *,
    fmt: str = "compressed-tensors",
    force: bool = False,
    device: str = "cpu",
    calibration: ExportCalibration = ExportCalibration(),
    records: list[dict] | None = None,
) -> pathlib.Path:
    """Quantize ``model`` with ``recipe`` and write the deployable checkpoint to ``out``; returns ``out``.

    ``records``: a run's result rows (results.jsonl); the model card quotes this recipe's headline figures.
    Raises VlmqError (one line) for an unknown recipe or format, a recipe the format cannot express, a
    non-empty ``out`` without ``force`` and a model that is not a Qwen2-VL-family checkpoint.
    """
    from vlmq.models import load_model

    spec = parse_recipe(recipe)
    out = check_export(spec, fmt, out, force)
    loaded = load_model(model, device=device)
    source_folder(loaded)
    return write_export(
        loaded, spec, quantize_for_export(loaded, spec, calibration), out, fmt=fmt, force=force, records=records
    )


def check_export(spec: RecipeSpec, fmt: str, out, force: bool) -> pathlib.Path:
    """Every refusal that needs no model: the format, the recipe in that format, ``out``, the writer's package."""
    if fmt not in EXPORT_FORMATS:
        raise VlmqError(f"unknown export format {fmt!r}; choose from: {', '.join(EXPORT_FORMATS)}")
    reason = export_refusal(spec, fmt)
    if reason:
        raise VlmqError(f"cannot export {spec.name!r} as {fmt}: {reason}")
    out = pathlib.Path(out).expanduser()
    check_out(out, force)
    _require_writer(fmt)
    return out


def write_export(
    loaded,
    spec: RecipeSpec,
    quantized: dict,
    out,
    *,
    fmt: str = "compressed-tensors",
    force: bool = False,
    records: list[dict] | None = None,
) -> pathlib.Path:
    """Write ``loaded`` (already quantized by ``quantize_for_export``) to ``out`` in ``fmt``, atomically."""
    out = check_export(spec, fmt, out, force)
    source = source_folder(loaded)
    _write_atomically(out, lambda staging: _write(staging, loaded, spec, fmt, source, quantized, records))
    return out


def quantize_for_export(loaded, spec: RecipeSpec, calibration: ExportCalibration) -> dict:
    """Apply the recipe and calibrate its KV scales as a run does; returns what the model card reports."""
    from vlmq.engine import Engine

    from .apply import apply_recipe
    from .calibration import load_calibration
    from .kv import engine_options, prepare_engine

    fmt = spec.linear_format
    nvfp4_inputs = fmt is not None and fmt.weight == "nvfp4" and fmt.activation == "nvfp4"
    calib = None
    if spec.recipe.needs_calibration or spec.kv_needs_calibration or nvfp4_inputs:
        calib = load_calibration(
            calibration.source,
            n=calibration.n,
            seed=calibration.seed,
            languages=spec.calib_languages or calibration.languages,
        )
    summary = apply_recipe(loaded, spec, calib)
    if nvfp4_inputs:  # compressed-tensors' W4A4 keeps a static activation global scale: calibrate it
        from .calibration import run_calibration
        from .export_ct import record_input_global_scales

        record_input_global_scales(loaded.model, lambda: run_calibration(loaded, calib))
    if not spec.kv_needs_calibration:
        return {"summary": summary, "kv": spec.kv, "kv_calibration": None}
    engine = Engine(loaded, **engine_options(spec))
    kv_summary = prepare_engine(engine, spec, calib)
    return {"summary": summary, "kv": engine.kv, "kv_calibration": kv_summary}


def _require_writer(fmt: str) -> None:
    if fmt == "compressed-tensors":
        try:
            import compressed_tensors  # noqa: F401
        except ImportError as err:
            raise VlmqError(
                "the compressed-tensors export needs the compressed-tensors package; pip install 'vlmq[export]'"
            ) from err


def _write(
    staging: pathlib.Path, loaded, spec: RecipeSpec, fmt: str, source: pathlib.Path, quantized: dict, records
) -> None:
    from vlmq import __version__
    from vlmq.models.progress import quiet_progress_bars

    model = loaded.model
    with quiet_progress_bars():
        if fmt == "compressed-tensors":
            from .export_ct import compressed_state_dict, quantization_config

            model.config.quantization_config = quantization_config(model, quantized["kv"])
            model.save_pretrained(staging, state_dict=compressed_state_dict(model, quantized["kv"]))
        else:
            from .export_torchao import save_torchao

            save_torchao(model, staging)
    for name in PROCESSING_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, staging / name)
    provenance = {
        "vlmq_version": __version__,
        "recipe": spec.name,
        "format": fmt,
        "model": loaded.name,
        "summary": quantized["summary"],
        "kv_calibration": quantized["kv_calibration"],
    }
    (staging / "vlmq_export.json").write_text(json.dumps(provenance, indent=1, default=str))
    (staging / "README.md").write_text(model_card(provenance, records))


def _write_atomically(out: pathlib.Path, write) -> None:
    """``write(staging)`` into a fresh folder beside ``out``, then rename it to ``out`` (the old one removed)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        write(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    trash = None
    if out.exists():
        trash = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        out.rename(trash / "old")
    staging.rename(out)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def model_card(provenance: dict, records: list[dict] | None = None) -> str:
    """Pure: the README.md of an export (recipe, formats, calibration, vlmq version, the run's headline figures)."""
    summary = provenance["summary"]
    calib = summary.get("calibration") or provenance.get("kv_calibration")
    lines = [
        f"# {provenance['model']} · {provenance['recipe']} ({provenance['format']})",
        "",
        f"Quantized with vlmq {provenance['vlmq_version']}: the text decoder's linears only (vision tower and "
        "lm_head in BF16).",
        "",
        f"- recipe: `{provenance['recipe']}` ({summary['wxa']}; {summary['granularity']})",
        f"- stored formats: {', '.join(sorted(summary['formats']))}",
        f"- FP8 KV cache: {summary['kv']['strategy'] if summary['kv']['dtype'] == 'fp8' else 'no'}",
        f"- calibration: {_describe_calibration(calib)}",
        f"- measured kernels where quantized: {summary['kernel']} on {summary['device_class']}",
    ]
    # headline figures: the recipe's whole-task rows (sub-splits such as pope/random and speed/bs16 left out)
    rows = [
        r
        for r in records or ()
        if r.get("recipe") == provenance["recipe"] and r.get("value") is not None and "/" not in str(r.get("task", ""))
    ][:MAX_CARD_ROWS]
    if rows:
        lines += [
            "",
            "## Measured by the run",
            "",
            "| task | metric | value | 95% CI | kernels | device |",
            "|---|---|---|---|---|---|",
        ]
        for r in rows:
            ci = f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]" if r.get("ci_low") is not None else ""
            lines.append(
                f"| {r.get('task', '')} | {r.get('metric', '')} | {r['value']:.4g} | {ci} | "
                f"{r.get('kernel', '')} | {r.get('device', '')} |"
            )
    lines += ["", "Serving: see vlmq's docs/deploy.md (vLLM, SGLang, transformers).", ""]
    return "\n".join(lines)


def _describe_calibration(calib: dict | None) -> str:
    if not calib:
        return "none (round-to-nearest)"
    languages = ",".join(calib.get("languages") or []) or "unknown"
    return (
        f"{calib['n']} prompts from {calib['source']} (languages {languages}, image share "
        f"{calib['image_share']:.0%}, seed {calib.get('seed')})"
    )
