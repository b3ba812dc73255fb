"""The whole job, in the order the CLI runs it: the pipeline, then the diagnosis, then the report.

``vlmq.pipeline.run`` produces the store and results.jsonl; ``run`` here adds the diagnosis section
(when the spec asks for it; its failure never costs the run's results) and writes report.md from the store.
"""

from __future__ import annotations

from pathlib import Path

from vlmq import pipeline
from vlmq.console import Progress, describe_failure
from vlmq.diagnose import run_diagnosis
from vlmq.errors import VlmqError
from vlmq.recipes import ExportCalibration, export_checkpoint, export_refusal, parse_recipe, weight_recipe_name
from vlmq.report import recommended_recipes, write_html, write_report
from vlmq.rundir import RunLock, check_report_folder
from vlmq.spec import RunSpec
from vlmq.store import Store


def run(spec: RunSpec, *, fresh: bool = False, debug: bool = False) -> pipeline.RunResult:
    """Run every recipe of ``spec``, then (on the main process) diagnose if asked and write the report."""

    def finish(records: list[dict]) -> None:  # on the main process, under the run folder's lock
        if spec.diagnose:
            diagnose(spec, records)
        report(spec, records)
        if spec.export_best:
            export_best(spec, records)

    return pipeline.run(spec, fresh=fresh, debug=debug, finish=finish)


def diagnose(spec: RunSpec, records: list[dict]) -> None:
    """The diagnosis section (vlmq.diagnose); a failure here is recorded and never costs the run's results."""
    progress = Progress(spec.quiet)
    progress.note("diagnosing (K/V ranges, saturation, sensitivity)")
    try:
        run_diagnosis(spec, records)
    except (KeyboardInterrupt, VlmqError):
        raise
    except Exception as err:  # noqa: BLE001 - keep the run's results whatever the probes do
        progress.note(f"diagnosis failed: {describe_failure(err)}")
        store = Store(spec.out)
        try:
            store.set_meta("diagnosis_error", describe_failure(err))
        finally:
            store.close()


def report(spec: RunSpec, records: list[dict]) -> Path:
    """report.md (and its charts) of the run in ``spec.out``, from the store and the records."""
    store = Store(spec.out)
    try:
        return write_report(store, spec, records)
    finally:
        store.close()


def export_best(spec: RunSpec, records: list[dict]) -> Path | None:
    """The report's best recommended recipe that compressed-tensors can express, exported to
    ``<out>/export/<recipe>`` (replacing an earlier export of the same recipe). None, with a note, when no
    recommended recipe quantizes anything or none can be exported (each refusal is noted)."""
    progress = Progress(spec.quiet)
    store = Store(spec.out)
    try:
        candidates = recommended_recipes(store, spec, records)
    finally:
        store.close()
    for name in candidates:
        if weight_recipe_name(name) is None:
            continue  # the baseline's own weights: nothing to export
        refusal = export_refusal(parse_recipe(name), "compressed-tensors")
        if refusal is not None:
            progress.note(f"--export-best: {name} cannot be exported ({refusal}); trying the next recommendation")
            continue
        calibration = ExportCalibration(spec.calib_source, spec.calib_n, spec.calib_languages, spec.seed)
        out = export_checkpoint(
            spec.model,
            name,
            Path(spec.out) / "export" / name.replace("+", "_"),
            force=True,
            calibration=calibration,
            records=[r for r in records if r["recipe"] == name],
        )
        progress.note(f"--export-best: {name} written to {out}")
        return out
    progress.note("--export-best: no recommended recipe quantizes the model and can be exported; nothing written")
    return None


def rerender(run_dir: str | Path, html: bool = False) -> Path:
    """Re-derive results.jsonl/csv and report.md of a finished run from its store alone; optionally HTML.

    Refused (one line) while a run holds the folder, or where the folder cannot be written."""
    check_report_folder(run_dir)
    with RunLock(run_dir):
        spec = pipeline.load_run_spec(run_dir)
        store = Store(run_dir)
        try:
            records = pipeline.write_results(store, spec)
            path = write_report(store, spec, records)
        finally:
            store.close()
        return write_html(run_dir) if html else path
