"""Generation engine: vision tower → prefill → greedy decode over a static KV cache (eager on any device,
compiled with CUDA graphs on CUDA)."""

from vlmq.engine.engine import DecodeState, Engine
from vlmq.engine.types import Generation, KVConfig, KVScales, Prompt

__all__ = ["DecodeState", "Engine", "Generation", "KVConfig", "KVScales", "Prompt"]
