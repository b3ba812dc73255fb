"""KV-cache bytes of a model's engine cache for a batch x context, sized on the meta device (nothing is
allocated), so the FP8 saving of every scale strategy can be stated for GPU presets from a laptop."""

from __future__ import annotations

import torch

from vlmq.engine.kv_cache import StaticKVCache
from vlmq.engine.types import KV_STRATEGIES, KVConfig, KVScales

META = torch.device("meta")


def kv_cache_bytes(text_config, *, batch: int, context: int, kv: KVConfig) -> int:
    """Bytes of vlmq's StaticKVCache (entries plus FP8 per-position scales) for this decoder shape."""
    cache = StaticKVCache.for_text_config(
        text_config, batch=batch, seq_len=context, dtype=torch.bfloat16, device=META, kv=kv
    )
    return cache.nbytes()


def kv_memory_rows(text_config, *, model: str, batch: int, context: int) -> list[dict]:
    """One row per KV format/strategy: bytes and the ratio to the BF16 cache."""
    layers, heads = text_config.num_hidden_layers, text_config.num_key_value_heads
    ones = torch.ones(layers, heads)
    scales = KVScales(ones, ones, k_visual=ones, v_visual=ones)  # values do not change the size
    configs = [("bf16", KVConfig())] + [(f"fp8/{s}", KVConfig.for_kind(s, scales)) for s in KV_STRATEGIES]
    bf16 = kv_cache_bytes(text_config, batch=batch, context=context, kv=KVConfig())
    rows = []
    for label, kv in configs:
        nbytes = kv_cache_bytes(text_config, batch=batch, context=context, kv=kv)
        rows.append(
            {
                "model": model,
                "batch": batch,
                "context": context,
                "kv": label,
                "bytes": nbytes,
                "gib": nbytes / 2**30,
                "ratio_to_bf16": nbytes / bf16,
            }
        )
    return rows


def preset_text_config(name: str):
    """The text config of an architecture preset (no weights built) or of a loaded model's config."""
    from vlmq.models.presets import preset_config

    return preset_config(name).get_text_config()
