"""What produced a result: versions, device, driver, git commit, source digest. Recorded with every run."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

import torch

import vlmq
from vlmq.device import device_label


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the vlmq source tree, when it is a git checkout (an installed wheel has none)."""
    root = Path(vlmq.__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def source_digest(root: Path | None = None) -> str:
    """12 hex digits of SHA-256 over the files of the vlmq package (each one's relative path and bytes, in path
    order; ``__pycache__`` left out), tile tables and specs included: names the code that ran where the git commit
    cannot -- an installed wheel, uncommitted edits, or a copy of the tree whose git metadata lags its files (the
    lent GPU machines' copies recorded the session's first commit under later code)."""
    if root is None:
        return _package_digest()
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def _package_digest() -> str:
    return source_digest(Path(vlmq.__file__).resolve().parent)


def device_name(device: torch.device | str) -> str:
    """The device as records name it, with the CPU's architecture and threads (CPU timings depend on them)."""
    label = device_label(device)
    return f"{label} ({platform.machine()}, {torch.get_num_threads()} threads)" if label == "cpu" else label


def driver_version() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
            return version.decode() if isinstance(version, bytes) else version
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no NVML on CPU machines
        return None


def cpu_model() -> str:
    """The host CPU's model name (Linux /proc/cpuinfo; elsewhere what platform says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_op_us(ops: int = 2000) -> float:
    """µs per tiny in-place PyTorch op on the host CPU: what eager, launch-bound paths (HF generate, TTFT's small
    kernels) pay per op besides the GPU. The H200 machines lent on 2026-11-30 differed twofold in HF eager decode
    on the same GPU, so runs record it (best of 3 timings, a few ms)."""
    x = torch.zeros(8)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(ops):
            x.add_(1.0)
        best = min(best, (time.perf_counter() - start) / ops)
    return round(best * 1e6, 3)


def vlmq_environment() -> dict[str, str]:
    """The ``VLMQ_*`` environment variables the run saw: knobs that change which kernels run or how they launch
    (``VLMQ_PDL_TRIGGER``, ``VLMQ_CUTLASS_LIB``, ...), so that a figure measured under a non-default one says so.
    Empty on a default run."""
    return {name: os.environ[name] for name in sorted(os.environ) if name.startswith("VLMQ_")}


def provenance(device: torch.device | str) -> dict:
    return {
        "vlmq": vlmq.__version__,
        "git_commit": git_commit(),
        "source_digest": source_digest(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        "torchao": _version("torchao"),
        "datasets": _version("datasets"),
        "device": device_name(device),
        "driver": driver_version(),
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
        "host_cpu": f"{cpu_model()} ({os.cpu_count()} CPUs)",
        "host_op_us": host_op_us(),
        "vlmq_env": vlmq_environment(),
    }
