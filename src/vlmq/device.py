"""Which device runs the work, what class of kernels it has, and how records name it."""

from __future__ import annotations

import gc

import torch

from vlmq.errors import VlmqError


def parse_device(device) -> torch.device:
    """A usable ``torch.device`` from 'cpu', 'cuda' or 'cuda:N'; a one-line error otherwise."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise VlmqError(f"unknown device '{device}'; use 'cpu', 'cuda' or 'cuda:N'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VlmqError(
            f"device '{device}' is not available here (no CUDA GPU); pass device='cpu' (CLI: --device cpu or auto)"
        )
    if dev.type not in ("cpu", "cuda"):
        raise VlmqError(f"device '{device}' is not supported; use 'cpu', 'cuda' or 'cuda:N'")
    return dev


def resolve_device(device: str) -> torch.device:
    """``auto`` is the GPU when there is one, else the CPU; anything else as ``parse_device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return parse_device(device)


def device_class(device: torch.device | str) -> str:
    """``cpu`` or the CUDA capability class: sm80 (A100), sm89 (Ada), sm90 (H100/H200), sm100 (Blackwell,
    sm120 included)."""
    device = torch.device(device)
    if device.type != "cuda":
        return "cpu"
    major, minor = torch.cuda.get_device_capability(device)
    if major >= 10:
        return "sm100"
    if major == 9:
        return "sm90"
    if (major, minor) >= (8, 9):
        return "sm89"
    return "sm80" if major == 8 else f"sm{major}{minor}"


def device_label(device: torch.device | str) -> str:
    """'cpu' or the GPU's name, as speed records carry it (CPU timings are never GPU figures)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def release_memory() -> None:
    """Collect garbage and hand cached GPU blocks back, between recipes and probes."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
