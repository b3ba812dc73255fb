"""RunSpec: what a run does. Parsed from a TOML file or from CLI flags; every error names the field and the fix.

Defaults live here and only here: the CLI flags are generated from these fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vlmq.errors import VlmqError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_TASKS = ("shapes-vqa", "shapes-pope", "shapes-mme", "speed")
SCORING_MODES = ("official", "lmms_eval")
DEVICES = ("auto", "cpu", "cuda")
LAUNCHERS = ("inprocess", "subprocess")
# Fields that do not change what is measured: a rerun may change them freely.
NON_IDENTITY_FIELDS = {"out", "quiet", "launcher", "batch_size", "parallel", "export_best"}
PARALLEL_MODES = ("data", "recipe")
SHIPPED_SPECS_DIR = Path(__file__).parent / "specs"


@dataclass(frozen=True)
class RunSpec:
    model: str = field(
        default="toy", metadata={"help": "model: 'toy', 'tiny', a preset (vlmq models), a local folder or a hub id"}
    )
    recipes: tuple[str, ...] = field(
        default=("auto",),
        metadata={"help": "comma-separated recipes (vlmq recipes); 'auto' = every recipe this device can run"},
    )
    tasks: tuple[str, ...] = field(default=DEFAULT_TASKS, metadata={"help": "comma-separated tasks (vlmq tasks)"})
    limit: int | None = field(
        default=None, metadata={"help": "samples per task (stratified, seeded); default: the task's own default"}
    )
    limits: tuple[str, ...] | None = field(
        default=None, metadata={"help": "per-task limits overriding --limit, e.g. vqav2=500,pope=1500"}
    )
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | cuda:N"})
    out: str = field(default="vlmq-run", metadata={"help": "run directory (results, report, resumable store)"})
    seed: int = field(default=0, metadata={"help": "seed for subsampling, calibration and bootstrap"})
    baseline: str = field(default="bf16", metadata={"help": "recipe the others are compared against"})
    dataset_dir: str | None = field(
        default=None, metadata={"help": "local folder with lmms-lab-format data (vqav2/, pope/, mme/, llava_bench/)"}
    )
    scoring: str = field(default="official", metadata={"help": "official | lmms_eval scoring rules"})
    min_pixels: int | None = field(default=None, metadata={"help": "image processor min_pixels"})
    max_pixels: int | None = field(default=None, metadata={"help": "image processor max_pixels"})
    jpeg_quality: int | None = field(
        default=None, metadata={"help": "re-encode images as JPEG of this quality (lmms-eval parity)"}
    )
    batch_size: int = field(default=8, metadata={"help": "prompts per generation batch for accuracy tasks"})
    compile: bool | None = field(
        default=None, metadata={"help": "compiled engine (CUDA graphs); default: on for CUDA, off for CPU"}
    )
    calib_source: str = field(
        default="builtin", metadata={"help": "calibration set: builtin | a HF dataset id | a local folder"}
    )
    calib_n: int = field(default=32, metadata={"help": "calibration samples"})
    calib_languages: tuple[str, ...] = field(
        default=("en",), metadata={"help": "calibration languages (builtin set), e.g. en,de,zh"}
    )
    speed_batch_sizes: tuple[int, ...] | None = field(
        default=None, metadata={"help": "speed batch sweep, e.g. 1,4,16,64 (default: 1,4,16,64 on CUDA, 1,4 on CPU)"}
    )
    speed_image_sizes: tuple[int, ...] | None = field(
        default=None,
        metadata={"help": "speed image sizes in pixels (square), the first is the headline point (default 448)"},
    )
    speed_new_tokens: int | None = field(
        default=None, metadata={"help": "fixed output length for speed (default 64 on CUDA, 16 on CPU)"}
    )
    speed_repeats: int | None = field(
        default=None, metadata={"help": "timed repeats per speed point (default 5 on CUDA, 3 on CPU)"}
    )
    speed_workload: str = field(
        default="synthetic", metadata={"help": "synthetic | llava_bench (needs --dataset-dir or the hub)"}
    )
    prompts: str | None = field(
        default=None,
        metadata={
            "help": 'images + prompts for the label-free fidelity task: a JSONL of {"image", "prompt"}, '
            "a folder of images, or llava_bench"
        },
    )
    prompt: str | None = field(
        default=None,
        metadata={
            "help": "the prompt asked of every image of a --prompts folder; unset: 'Describe this image in detail.'"
        },
    )
    export_best: bool = field(
        default=False,
        metadata={
            "help": "after the report, write the recommended recipe's deployable checkpoint (compressed-tensors) "
            "to <out>/export/<recipe>"
        },
    )
    diagnose: bool = field(default=False, metadata={"help": "add the failure-mode diagnosis section"})
    parallel: str = field(
        default="data", metadata={"help": "under torchrun: data (shard samples) | recipe (one recipe per rank)"}
    )
    launcher: str = field(
        default="inprocess", metadata={"help": "inprocess | subprocess (one process per recipe: clean VRAM figures)"}
    )
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    def identity(self) -> dict[str, Any]:
        """The fields that decide what is measured; a resumed run must match them."""
        return {k: v for k, v in self.to_dict().items() if k not in NON_IDENTITY_FIELDS}

    def identity_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:16]

    def limit_for(self, task: str) -> int | None:
        """The sample limit of one task: its entry in `limits` (exact name, then family), else `limit`."""
        table = dict(item.split("=", 1) for item in self.limits or ())
        for key in (task, task.split("/")[0]):
            if key in table:
                return int(table[key])
        return self.limit

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}


def _field_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in fields(RunSpec)}


def _coerce(name: str, value: Any) -> Any:
    """Turn a TOML or CLI value into the field's type, or raise a VlmqError that names field and fix."""
    kind = _field_types()[name]
    if value is None:
        if "None" in kind:
            return None
        raise VlmqError(f"field '{name}' must not be empty")
    if kind.startswith("tuple[int"):
        items = value.split(",") if isinstance(value, str) else value
        try:
            items = tuple(int(i) for i in items if str(i).strip())
        except (TypeError, ValueError):
            raise VlmqError(f"field '{name}' must be a list of integers such as 1,4,16, got {value!r}") from None
        if not items or min(items) <= 0:
            raise VlmqError(f"field '{name}' must hold positive integers such as 1,4,16, got {value!r}")
        return items
    if kind.startswith("tuple"):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise VlmqError(f"field '{name}' must be a list of names or a comma-separated string, got {value!r}")
        items = tuple(i.strip() for i in items if i.strip())
        if not items:
            raise VlmqError(f"field '{name}' is empty; give at least one name (see `vlmq {name}`)")
        return items
    if kind.startswith("bool"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise VlmqError(f"field '{name}' must be true or false, got {value!r}")
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise VlmqError(f"field '{name}' must be an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise VlmqError(f"field '{name}' must be an integer, got {value!r}") from None
    if not isinstance(value, str):
        raise VlmqError(f"field '{name}' must be a string, got {value!r}")
    return value


def _check(spec: RunSpec) -> RunSpec:
    def positive(name: str) -> None:
        value = getattr(spec, name)
        if value is not None and value <= 0:
            raise VlmqError(f"field '{name}' must be a positive integer, got {value}; omit it to use the default")

    for name in ("limit", "batch_size", "calib_n", "min_pixels", "max_pixels", "speed_new_tokens", "speed_repeats"):
        positive(name)
    for item in spec.limits or ():
        task, _, count = item.partition("=")
        if not task or not count.isdigit() or int(count) <= 0:
            raise VlmqError(f"field 'limits' has {item!r}; write task=N with N a positive integer, e.g. vqav2=500")
    if spec.jpeg_quality is not None and not 1 <= spec.jpeg_quality <= 100:
        raise VlmqError(f"field 'jpeg_quality' must be between 1 and 100, got {spec.jpeg_quality}")
    if spec.scoring not in SCORING_MODES:
        raise VlmqError(f"field 'scoring' is {spec.scoring!r}; accepted values: {', '.join(SCORING_MODES)}")
    if spec.parallel not in PARALLEL_MODES:
        raise VlmqError(f"field 'parallel' is {spec.parallel!r}; accepted values: {', '.join(PARALLEL_MODES)}")
    if spec.launcher not in LAUNCHERS:
        raise VlmqError(f"field 'launcher' is {spec.launcher!r}; accepted values: {', '.join(LAUNCHERS)}")
    if not (spec.device in DEVICES or spec.device.startswith("cuda:")):
        raise VlmqError(f"field 'device' is {spec.device!r}; accepted values: auto, cpu, cuda, cuda:N")
    if Path(spec.out).exists() and not Path(spec.out).is_dir():
        raise VlmqError(f"output directory '{spec.out}' is a file; pass --out with a directory path")
    return spec


def spec_from_mapping(values: dict[str, Any], *, base: RunSpec | None = None, source: str = "flags") -> RunSpec:
    """Build a RunSpec from a mapping of field names to raw values (TOML table or parsed flags)."""
    known = {f.name for f in fields(RunSpec)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise VlmqError(f"unknown field '{unknown[0]}' in {source}; accepted fields: {', '.join(sorted(known))}")
    coerced = {k: _coerce(k, v) for k, v in values.items()}
    return _check(dataclasses.replace(base or RunSpec(), **coerced))


def resolve_spec_path(spec: str) -> Path:
    """A spec given as a path, or the name of a spec shipped with vlmq (e.g. 'original-study')."""
    path = Path(spec)
    if path.is_file():
        return path
    names = sorted(p.stem for p in SHIPPED_SPECS_DIR.glob("*.toml"))
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.toml"))
        hint = f"one of its TOML files ({', '.join(inside[:5])})" if inside else "a TOML file"
        raise VlmqError(f"spec '{spec}' is a folder; pass {hint} or a shipped spec: {', '.join(names) or 'none'}")
    shipped = SHIPPED_SPECS_DIR / f"{spec}.toml"
    if shipped.is_file():
        return shipped
    raise VlmqError(f"spec file '{spec}' not found; give a TOML path or a shipped spec: {', '.join(names) or 'none'}")


def load_spec_file(spec: str) -> dict[str, Any]:
    path = resolve_spec_path(spec)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise VlmqError(f"spec file '{path}' is not valid TOML ({err}); fix the syntax") from None
    except UnicodeDecodeError:
        raise VlmqError(f"spec file '{path}' is not a text file; pass a TOML file") from None
    except OSError as err:
        raise VlmqError(f"cannot read spec file '{path}' ({err.strerror}); check its permissions") from None
    if "run" in data and isinstance(data["run"], dict):
        data = data["run"]
    return data
