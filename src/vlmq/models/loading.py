"""``load_model(name)``: one entry point for the toy model, tiny models, architecture presets, folders and hub ids.

Resolution order: ``"toy"`` → ``"tiny"`` / ``"tiny-<preset>"`` → an architecture preset name
(``qwen2-vl-2b`` …) → an existing local folder → a hub id (``owner/name``) → error naming the path.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import tempfile
import warnings
from dataclasses import dataclass

import torch

from vlmq.device import parse_device
from vlmq.errors import VlmqError
from vlmq.models.layout import model_class
from vlmq.models.processor import PROCESSOR_CLASSES, make_image_processor, set_pixel_budget
from vlmq.models.progress import quiet_progress_bars

# The trained toy model ships inside the package (built by vlmq.toy); detected by its config.json.
TOY_MODEL_DIR = pathlib.Path(__file__).resolve().parent / "toy"

SUPPORTED_FAMILIES = ("qwen2_vl", "qwen2_5_vl")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "vocab.json")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")

# Bumped whenever build_tiny_model's output changes, so cached tiny models are rebuilt.
TINY_BUILDER_VERSION = 2
STAMP_FILE = "vlmq_build.json"


@dataclass
class LoadedModel:
    # Qwen2VLForConditionalGeneration | Qwen2_5_VLForConditionalGeneration
    model: "transformers.PreTrainedModel"  # noqa: F821
    processor: "Qwen2VLImageOnlyProcessor"  # noqa: F821  image-only processor (no torchvision needed)
    name: str  # as the user gave it ("toy", "tiny", "qwen2-vl-2b", a path, a hub id)
    family: str  # "qwen2_vl" | "qwen2_5_vl"
    source: str  # "toy" | "tiny" | "preset" | "local" | "hub"
    random_weights: bool


def load_model(
    name: str,
    *,
    device: str = "cpu",
    dtype=torch.bfloat16,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> LoadedModel:
    """Load a model and its image-only processor, in eval mode on ``device`` in ``dtype``."""
    from vlmq.models.presets import ARCH_PRESETS, build_preset_model

    if not isinstance(name, str) or not name.strip():
        raise VlmqError("model name is empty; pass 'toy', 'tiny', a preset (see `vlmq models`), a folder or a hub id")
    torch_device, torch_dtype = parse_device(device), parse_dtype(dtype)
    if name == "toy":
        loaded = _load_toy(torch_device, torch_dtype)
    elif name == "tiny" or name.startswith("tiny-"):
        loaded = _load_tiny(name, torch_device, torch_dtype)
    elif name in ARCH_PRESETS:
        model, processor = build_preset_model(name, device=torch_device, dtype=torch_dtype)
        loaded = LoadedModel(model, processor, name, ARCH_PRESETS[name].family, "preset", random_weights=True)
    elif pathlib.Path(name).expanduser().exists():
        loaded = load_folder(pathlib.Path(name).expanduser(), torch_device, torch_dtype, name=name, source="local")
    elif "/" in name and not name.startswith((".", "/", "~")) and name.count("/") == 1:
        loaded = load_folder(_hub_snapshot(name), torch_device, torch_dtype, name=name, source="hub")
    else:
        raise VlmqError(
            f"model path '{name}' does not exist; pass an existing folder, a hub id, "
            f"or one of: {', '.join(known_model_names())}"
        )
    if min_pixels is not None or max_pixels is not None:
        set_pixel_budget(loaded.processor, min_pixels, max_pixels)
    return loaded


def known_model_names() -> list[str]:
    from vlmq.models.presets import ARCH_PRESETS
    from vlmq.models.tiny import TINY_PRESETS

    return ["toy"] + [tiny_model_name(p) for p in TINY_PRESETS] + list(ARCH_PRESETS)


def list_models() -> list[tuple[str, str]]:
    """(name, one-line description) of every model ``load_model`` knows by name, for ``vlmq models``."""
    from vlmq.models.presets import ARCH_PRESETS, describe_config, describe_preset
    from vlmq.models.tiny import TINY_PRESETS, tiny_config

    if (TOY_MODEL_DIR / "config.json").is_file():
        toy = f"trained toy model shipped with vlmq: {describe_config(_folder_config(TOY_MODEL_DIR))}"
    else:
        toy = "trained toy model (not shipped in this install: falls back to 'tiny')"
    rows = [("toy", toy)]
    for preset, spec in TINY_PRESETS.items():
        rows.append(
            (
                tiny_model_name(preset),
                f"built offline, random weights, {spec.description}: {describe_config(tiny_config(preset))}",
            )
        )
    rows += [(name, describe_preset(name)) for name in ARCH_PRESETS]
    return rows


def _folder_config(folder: pathlib.Path):
    from transformers import AutoConfig

    read_model_type(folder)
    return AutoConfig.from_pretrained(folder)


def tiny_model_name(preset: str) -> str:
    return "tiny" if preset == "tiny" else f"tiny-{preset}"


_DTYPES = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
    "fp32": torch.float32,
    "float32": torch.float32,
}


def parse_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower() in _DTYPES:
        return _DTYPES[dtype.lower()]
    raise VlmqError(f"unsupported dtype '{dtype}'; use bfloat16, float16 or float32")


# ---------------------------------------------------------------------------------------------- toy / tiny


def _load_toy(device: torch.device, dtype: torch.dtype) -> LoadedModel:
    if (TOY_MODEL_DIR / "config.json").is_file():
        return load_folder(TOY_MODEL_DIR, device, dtype, name="toy", source="toy")
    warnings.warn(
        f"the trained toy model is not shipped in this install ({TOY_MODEL_DIR} has no config.json); "
        "using the random-weight 'tiny' model instead",
        stacklevel=3,
    )
    loaded = _load_tiny("tiny", device, dtype)
    loaded.name = "toy"
    return loaded


def _load_tiny(name: str, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    from vlmq.models.tiny import TINY_PRESETS

    preset = "tiny" if name == "tiny" else name.removeprefix("tiny-")
    if preset not in TINY_PRESETS:
        choices = ", ".join(tiny_model_name(p) for p in TINY_PRESETS)
        raise VlmqError(f"unknown tiny model '{name}'; choose from: {choices}")
    folder = cached_tiny_model(preset, seed=0)
    loaded = load_folder(folder, device, dtype, name=name, source="tiny")
    loaded.random_weights = True
    return loaded


def cache_dir() -> pathlib.Path:
    """Where vlmq keeps built models: ``$VLMQ_CACHE`` or ``~/.cache/vlmq``."""
    return pathlib.Path(os.environ.get("VLMQ_CACHE") or pathlib.Path.home() / ".cache" / "vlmq").expanduser()


def cached_tiny_model(preset: str, seed: int = 0) -> pathlib.Path:
    """Build the tiny model once per (preset, seed, builder version) and reuse the folder afterwards.

    Safe under concurrent test processes: a build happens in a private staging folder and is renamed
    into place; whoever renames first wins and the others discard their copy.
    """
    from vlmq.models.tiny import build_tiny_model

    folder = cache_dir() / f"tiny-{preset}-{seed}"
    stamp = {"builder_version": TINY_BUILDER_VERSION, "preset": preset, "seed": seed}
    if _has_stamp(folder, stamp):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".tiny-{preset}-{seed}-", dir=folder.parent))
    build_tiny_model(staging, preset=preset, seed=seed)
    (staging / STAMP_FILE).write_text(json.dumps(stamp))
    if folder.exists() and not _has_stamp(folder, stamp):  # stale (older builder): move it aside, then drop it
        trash = pathlib.Path(tempfile.mkdtemp(prefix=".stale-", dir=folder.parent))
        with contextlib.suppress(OSError):
            folder.rename(trash / "old")
        shutil.rmtree(trash, ignore_errors=True)
    try:
        staging.rename(folder)
    except OSError:  # another process renamed its build into place first; it is identical
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _has_stamp(folder: pathlib.Path, stamp: dict) -> bool:
    try:
        return json.loads((folder / STAMP_FILE).read_text()) == stamp
    except (OSError, json.JSONDecodeError):
        return False


# ---------------------------------------------------------------------------------------------- folders


def read_model_type(folder: pathlib.Path) -> str:
    """The folder's ``model_type``, checked against the supported families."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise VlmqError(
            f"'{folder}' has no config.json; pass the folder of a saved Qwen2-VL model "
            "(the one holding config.json and the weights)"
        )
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise VlmqError(f"'{config_file}' is not valid JSON ({err}); re-download or re-save the model") from err
    if model_type not in SUPPORTED_FAMILIES:
        raise VlmqError(f"model family '{model_type}' is not supported; vlmq supports Qwen2-VL and Qwen2.5-VL")
    return model_type


def _require_one_of(folder: pathlib.Path, names: tuple[str, ...], what: str) -> None:
    if not any((folder / n).is_file() for n in names):
        raise VlmqError(
            f"'{folder}' has no {what} file ({names[0]}); copy the complete model folder "
            f"(config.json, {names[0]}, tokenizer.json, preprocessor_config.json)"
        )


def load_folder(
    folder: pathlib.Path, device: torch.device, dtype: torch.dtype, *, name: str, source: str
) -> LoadedModel:
    """Load a saved Qwen2-VL / Qwen2.5-VL folder (hub layout) with the image-only processor."""
    if not folder.is_dir():
        raise VlmqError(f"model path '{folder}' is not a folder; pass the folder that holds config.json")
    family = read_model_type(folder)
    _require_one_of(folder, WEIGHT_FILES, "weights")
    _require_one_of(folder, TOKENIZER_FILES, "tokenizer")
    model = _load_weights(folder, family, dtype).to(device).eval()
    processor = _load_processor(folder, family)
    return LoadedModel(model, processor, name, family, source, random_weights=False)


def _load_weights(folder: pathlib.Path, family: str, dtype: torch.dtype):
    cls = model_class(family)
    # Broad catches on purpose: config validation and safetensors raise their own exception types,
    # and every one of them means "this folder is broken", which the user fixes the same way.
    try:
        config = cls.config_class.from_pretrained(folder)
    except Exception as err:  # noqa: BLE001
        raise VlmqError(f"config.json in '{folder}' is invalid ({_first_line(err)}); fix or re-download it") from err
    try:
        with quiet_progress_bars():
            model, info = cls.from_pretrained(folder, config=config, dtype=dtype, output_loading_info=True)
    except Exception as err:  # noqa: BLE001
        raise VlmqError(
            f"cannot load the weights in '{folder}' ({_first_line(err)}); re-download or re-save the model folder"
        ) from err
    # transformers fills missing tensors with random values and only logs it: a half-copied or
    # mismatched checkpoint would silently give a random model, so refuse it.
    mismatched = (k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys", ()))
    missing = sorted(info.get("missing_keys", ())) + sorted(mismatched)
    if missing:
        raise VlmqError(
            f"'{folder}' lacks {len(missing)} weight tensor(s) the {family} config needs "
            f"(first: {missing[0]}); re-download the model or check that config.json matches the weights"
        )
    return model


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200] if text else ''}"


def _load_processor(folder: pathlib.Path, family: str):
    processor_class = PROCESSOR_CLASSES[family]
    if any((folder / n).is_file() for n in PROCESSOR_FILES):
        return processor_class.from_pretrained(folder)
    # A folder without an image-processor config: use the published checkpoints' settings.
    from transformers import AutoTokenizer

    warnings.warn(
        f"'{folder}' has no preprocessor_config.json; using the default Qwen2-VL image processor", stacklevel=4
    )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return processor_class(make_image_processor(), tokenizer, chat_template=tokenizer.chat_template)


# ---------------------------------------------------------------------------------------------- hub


def _hub_snapshot(repo_id: str) -> pathlib.Path:
    """Resolve a hub id to a local snapshot (the HF cache), downloading only when online.

    The config is fetched first so that an unsupported family fails before gigabytes of weights move.
    Without a reachable hub (``HF_HUB_OFFLINE=1`` or no network) only the cache is used, at once,
    instead of huggingface_hub's ~25 s of connection retries.
    """
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import HFValidationError, OfflineModeIsEnabled

    offline = _env_flag("HF_HUB_OFFLINE") or not _hub_reachable()
    try:
        config_path = pathlib.Path(hf_hub_download(repo_id, "config.json", local_files_only=offline))
        read_model_type(config_path.parent)
        return pathlib.Path(snapshot_download(repo_id, local_files_only=offline))
    except VlmqError:
        raise
    except HFValidationError as err:
        raise VlmqError(
            f"'{repo_id}' is neither an existing folder nor a valid hub id; "
            "pass a local model folder or an id like Qwen/Qwen2-VL-2B-Instruct"
        ) from err
    except (OSError, OfflineModeIsEnabled, ConnectionError, TimeoutError) as err:
        reason = (
            "offline or no network, and not in the HF cache" if offline else f"download failed: {type(err).__name__}"
        )
        raise VlmqError(
            f"cannot download '{repo_id}' ({reason}); download it on a connected machine with "
            f"`huggingface-cli download {repo_id} --local-dir DIR` and pass --model DIR"
        ) from err


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """A quick TCP probe of the hub endpoint (skipped behind a proxy, where only the proxy can tell)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return True
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False
