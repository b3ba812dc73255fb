"""Memory accounting for speed records: torch allocator, NVML, tensor sizes; device copy bandwidth.

Users distrust one "memory" number (nvidia-smi, allocated and reserved disagree, and a server's KV
pre-allocation hides weight savings), so every figure says where it comes from:
``allocated`` (live tensors), ``reserved`` (the caching allocator's pool), ``nvml_used`` (what
nvidia-smi shows for the whole device, CUDA context included).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from vlmq.models.layout import tensor_bytes  # counts tensor subclasses' inner tensors (torchao NVFP4)

GB = 1e9


@dataclass(frozen=True)
class MemorySnapshot:
    allocated: int  # bytes held by live tensors
    peak_allocated: int  # max since the last peak reset
    reserved: int  # bytes in the caching allocator's pool
    peak_reserved: int
    nvml_used: int | None  # device-wide bytes in use (None where NVML is unavailable)


def nvml_handle(pynvml, device: torch.device):
    """The NVML handle of a torch CUDA device, found by UUID: NVML numbers GPUs physically and ignores
    ``CUDA_VISIBLE_DEVICES``, so by index ``cuda:0`` of a process given GPU 1 read GPU 0 (seen on a
    2-GPU H100 machine: static VRAM 0.50 GB, dynamic 0)."""
    index = torch.device(device).index
    index = torch.cuda.current_device() if index is None else index
    uuid = str(torch.cuda.get_device_properties(index).uuid)
    uuid = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
    return pynvml.nvmlDeviceGetHandleByUUID(uuid)


def nvml_used_bytes(device: torch.device) -> int | None:
    """Device-wide used memory from NVML (nvidia-ml-py), or None (no NVML / no GPU)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetMemoryInfo(nvml_handle(pynvml, device)).used)
    except Exception:  # noqa: BLE001 - NVML missing or failing must never break a speed run
        return None


def snapshot(device: torch.device) -> MemorySnapshot | None:
    """Allocator and NVML state of a CUDA device (None on other devices)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return MemorySnapshot(
        allocated=torch.cuda.memory_allocated(device),
        peak_allocated=torch.cuda.max_memory_allocated(device),
        reserved=torch.cuda.memory_reserved(device),
        peak_reserved=torch.cuda.max_memory_reserved(device),
        nvml_used=nvml_used_bytes(device),
    )


def reset_peak(device: torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


@contextlib.contextmanager
def track_peak(device: torch.device):
    """Peak allocator memory inside the block, e.g. while loading and quantizing: ``with track_peak(d) as
    peak: ...`` then ``peak["allocated"]``/``peak["reserved"]`` (bytes; zeros off CUDA)."""
    peak = {"allocated": 0, "reserved": 0}
    reset_peak(device)
    try:
        yield peak
    finally:
        snap = snapshot(device)
        if snap is not None:
            peak.update(allocated=snap.peak_allocated, reserved=snap.peak_reserved)


def module_bytes(module: torch.nn.Module) -> int:
    """Weights and buffers of a module as stored (quantized weights count their real bytes)."""
    seen: set[int] = set()
    total = 0
    for t in (*module.parameters(), *module.buffers()):
        if id(t) not in seen:  # tied embeddings / lm_head count once
            seen.add(id(t))
            total += tensor_bytes(t)
    return total


def device_copy_bandwidth(device: torch.device, nbytes: int = 1 << 30, repeats: int = 5) -> float:
    """Measured copy bandwidth in bytes/s (bytes read + bytes written), the practical memory roofline."""
    device = torch.device(device)
    if device.type != "cuda":
        nbytes = min(nbytes, 1 << 27)  # keep CPU runs short
    src = torch.empty(nbytes // 2, dtype=torch.uint8, device=device).random_(0, 255)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up
    from vlmq.engine.timing import Stopwatch

    times = []
    for _ in range(repeats):
        watch = Stopwatch(device)
        watch.mark("a")
        dst.copy_(src)
        watch.mark("b")
        times.append(watch.elapsed_ms("a", "b"))
    times.sort()
    return 2 * src.numel() / (times[len(times) // 2] / 1e3)
