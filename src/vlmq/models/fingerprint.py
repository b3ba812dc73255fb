"""A model's fingerprint: what a resumed run checks it was produced with, cheap even for a 15 GB checkpoint.

``model_fingerprint(name)`` resolves a model name like `load_model` (without loading it) and returns a
flat ``{key: value}`` of strings, so that a mismatch can name the file that changed:

- a folder (local, the shipped toy, a cached hub snapshot): every top-level file a model load can read
  (config, generation config, tokenizer, processor, chat template, weights) as ``size:sha256``. Files up
  to 64 MiB are hashed whole; a larger safetensors file by its JSON header (names, dtypes, shapes,
  offsets) plus 64 blocks of 16 KiB spread over its data, other large files by those blocks alone:
  about 1 MiB read per file. A change confined to a small part of a large file can go unnoticed.
- ``tiny`` / ``tiny-<preset>``: the builder's preset, seed and version (the build is deterministic);
- an architecture preset: its published config and the weight seed (random weights).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import struct

from vlmq.errors import VlmqError
from vlmq.models.loading import TINY_BUILDER_VERSION, TOY_MODEL_DIR, known_model_names, tiny_model_name

FINGERPRINT_VERSION = "1"
FULL_HASH_LIMIT = 64 << 20
SAMPLE_BLOCKS, SAMPLE_BYTES = 64, 16 << 10
# The files `load_model` reads from a folder (transformers and the processor pick what they need).
MODEL_FILE_SUFFIXES = (".json", ".jinja", ".txt", ".model", ".tiktoken", ".safetensors", ".bin", ".pt", ".pth")


def model_fingerprint(name: str) -> dict[str, str]:
    """The fingerprint of the model ``load_model(name)`` would load (see the module docstring)."""
    from vlmq.models.presets import ARCH_PRESETS, PRESET_SEED
    from vlmq.models.tiny import TINY_PRESETS

    if name == "toy" and (TOY_MODEL_DIR / "config.json").is_file():
        return {"source": "toy", **folder_fingerprint(TOY_MODEL_DIR)}
    if name in ("toy", "tiny") or name.startswith("tiny-"):
        preset = "tiny" if name in ("toy", "tiny") else name.removeprefix("tiny-")
        if preset not in TINY_PRESETS:
            raise VlmqError(
                f"unknown tiny model '{name}'; choose from: {', '.join(tiny_model_name(p) for p in TINY_PRESETS)}"
            )
        return {
            "source": "tiny",
            "fingerprint_version": FINGERPRINT_VERSION,
            "preset": preset,
            "seed": "0",
            "builder_version": str(TINY_BUILDER_VERSION),
        }
    if name in ARCH_PRESETS:
        config = json.dumps(dataclasses.asdict(ARCH_PRESETS[name]), sort_keys=True)
        return {
            "source": "preset",
            "fingerprint_version": FINGERPRINT_VERSION,
            "preset": name,
            "config": hashlib.sha256(config.encode()).hexdigest()[:16],
            "seed": str(PRESET_SEED),
        }
    path = pathlib.Path(name).expanduser()
    if path.exists():
        return {"source": "local", **folder_fingerprint(path)}
    if "/" in name and not name.startswith((".", "/", "~")) and name.count("/") == 1:
        return {"source": "hub", "hub_id": name, **_hub_fingerprint(name)}
    raise VlmqError(
        f"model path '{name}' does not exist; pass an existing folder, a hub id, "
        f"or one of: {', '.join(known_model_names())}"
    )


def folder_fingerprint(folder: str | pathlib.Path) -> dict[str, str]:
    """``{file name: "size:sha256-prefix"}`` of every model file at the top of ``folder``."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise VlmqError(f"model path '{folder}' is not a folder; pass the folder that holds config.json")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.endswith(MODEL_FILE_SUFFIXES)
    )
    if not files:
        raise VlmqError(f"'{folder}' holds no model files (config.json, *.safetensors); pass a model folder")
    out = {"fingerprint_version": FINGERPRINT_VERSION}
    for path in files:
        try:
            out[path.name] = file_fingerprint(path)
        except OSError as err:
            raise VlmqError(f"cannot read '{path}' ({err.strerror}); check the model folder's permissions") from None
    return out


def file_fingerprint(path: str | pathlib.Path) -> str:
    """``"size:sha256-prefix"`` of one file, reading at most about 1 MiB of a large one."""
    path = pathlib.Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= FULL_HASH_LIMIT:
            digest.update(fh.read())
        else:
            start = _safetensors_header(fh, size, digest) if path.suffix == ".safetensors" else 0
            _sampled_blocks(fh, start, size, digest)
    return f"{size}:{digest.hexdigest()[:16]}"


def _safetensors_header(fh, size: int, digest) -> int:
    """Hash the 8-byte length and the JSON header; return where the tensor data starts."""
    fh.seek(0)
    head = fh.read(8)
    (length,) = struct.unpack("<Q", head) if len(head) == 8 else (size,)
    if length > min(size - 8, 100 << 20):  # not a safetensors header: sample the whole file instead
        return 0
    digest.update(head + fh.read(length))
    return 8 + length


def _sampled_blocks(fh, start: int, size: int, digest) -> None:
    span = max(0, size - start - SAMPLE_BYTES)
    for k in range(SAMPLE_BLOCKS):
        fh.seek(start + span * k // (SAMPLE_BLOCKS - 1))
        digest.update(fh.read(SAMPLE_BYTES))


def _hub_fingerprint(repo_id: str) -> dict[str, str]:
    """A hub id's cached snapshot; without one, the id alone (the run downloads it, or fails on it)."""
    try:
        from huggingface_hub import snapshot_download

        folder = pathlib.Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, offline, or not a valid id: loading says which
        return {"snapshot": "not in the local Hugging Face cache"}
    return {"snapshot": folder.name, **folder_fingerprint(folder)}
