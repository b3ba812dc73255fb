"""Benchmarks on the engine's public API: TTFT, decode, memory, batch/image sweeps, long context, profiles.

Measurement only: what to measure (prompts, recipe, options) is passed in by the tasks layer.
"""
