"""Generation engine (eager on any device, compiled with CUDA graphs on CUDA) and the speed benchmark."""

from vlmq.engine.engine import Engine
from vlmq.engine.types import Generation, KVConfig, KVScales, Prompt

__all__ = ["Engine", "Generation", "KVConfig", "KVScales", "Prompt"]
