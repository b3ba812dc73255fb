"""The `speed` task: TTFT, decode ms/token, tokens/s and VRAM of one recipe (measured by vlmq.engine.speed).

Speed is reported only for real kernels: an emulated recipe gets one `not_measured` record saying why.
CPU runs use a small sweep and say that their timings are CPU timings (the `device` field).
"""

from __future__ import annotations

from vlmq.tasks import register_task
from vlmq.tasks.base import Task, TaskOptions


class SpeedTask(Task):
    """TTFT (vision + prefill), decode ms/token, tokens/s, static/dynamic VRAM; batch and image sweeps."""

    name = "speed"
    kind = "speed"
    max_new_tokens = 64

    def load(self, opts: TaskOptions) -> list:
        return []

    def options(self, spec, engine):
        from vlmq.engine.speed import SpeedOptions

        on_gpu = engine.device.type == "cuda"
        defaults = SpeedOptions() if on_gpu else SpeedOptions(batch_sizes=(1, 4), new_tokens=16, warmups=1, repeats=3)
        return SpeedOptions(
            batch_sizes=spec.speed_batch_sizes or defaults.batch_sizes,
            image_sizes=spec.speed_image_sizes or defaults.image_sizes,
            new_tokens=spec.speed_new_tokens or defaults.new_tokens,
            warmups=defaults.warmups, repeats=spec.speed_repeats or defaults.repeats,
            workload=spec.speed_workload, dataset_dir=spec.dataset_dir, compile=spec.compile,
            kv=engine.kv, fp8_attention=engine.fp8_attention)

    def measure(self, engine, loaded, recipe: str, kernel: str, spec) -> list[dict]:
        if kernel != "real":
            return [{"task": self.name, "metric": "not_measured", "value": None, "ci_low": None, "ci_high": None,
                     "n": 0, "kernel": kernel,
                     "reason": f"{kernel} kernels on this device: speed is reported only for real kernels"}]
        from vlmq.engine.speed import run_speed

        return run_speed(loaded, recipe, kernel, self.options(spec, engine))


register_task(SpeedTask())
