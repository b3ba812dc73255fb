"""Memory accounting helpers (CPU side: tensor sizes; the allocator/NVML parts need CUDA)."""

import copy

import torch

from vlmq.engine import memory


def test_module_bytes_counts_quantized_weights_as_stored(tiny_bf16):
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    from vlmq.models import is_decoder_linear

    bf16 = memory.module_bytes(tiny_bf16.model)
    quantized = copy.deepcopy(tiny_bf16)
    quantize_(quantized.model, Int8WeightOnlyConfig(set_inductor_config=False), filter_fn=is_decoder_linear)
    decoder_linears = sum(m.weight.numel() for name, m in tiny_bf16.model.named_modules() if is_decoder_linear(m, name))
    saved = bf16 - memory.module_bytes(quantized.model)
    # int8 halves the linears' weight bytes; per-row fp32 scales give a little back
    assert 0.4 * decoder_linears < saved <= decoder_linears


def test_tied_weights_count_once():
    emb = torch.nn.Embedding(10, 4)
    model = torch.nn.ModuleDict({"emb": emb, "head": torch.nn.Linear(4, 10, bias=False)})
    model["head"].weight = emb.weight
    assert memory.module_bytes(model) == 10 * 4 * 4


def test_cpu_has_no_allocator_snapshot_and_zero_peaks():
    assert memory.snapshot(torch.device("cpu")) is None
    with memory.track_peak(torch.device("cpu")) as peak:
        torch.ones(1000)
    assert peak == {"allocated": 0, "reserved": 0}


def test_copy_bandwidth_is_positive_on_cpu():
    assert memory.device_copy_bandwidth(torch.device("cpu"), nbytes=1 << 22, repeats=3) > 1e6


def test_nvml_handle_follows_the_torch_device_by_uuid(monkeypatch):
    """NVML ignores CUDA_VISIBLE_DEVICES: the handle must come from the torch device's UUID, not its index."""
    import types

    from vlmq.engine import memory

    uuids = {0: "aaaa-0000", 1: "bbbb-1111"}  # what torch reports for the visible devices
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(uuid=uuids[i]))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    fake = types.SimpleNamespace(
        nvmlDeviceGetHandleByUUID=lambda uuid: ("handle", uuid), nvmlDeviceGetHandleByIndex=lambda i: ("by-index", i)
    )
    assert memory.nvml_handle(fake, torch.device("cuda", 0)) == ("handle", "GPU-aaaa-0000")
    assert memory.nvml_handle(fake, torch.device("cuda")) == ("handle", "GPU-bbbb-1111")
