"""Measurement tasks (``vlmq.bench`` does the measuring): speed, long-context decode, per-kernel profile.

Speed is reported only for real kernels: an emulated recipe gets one ``not_measured`` record saying why.
CPU runs use a small sweep and their records say ``device: cpu`` (CPU timings, never GPU figures).
The HF eager BF16 baseline is measured once per run, on the unquantized model, and stored with that
recipe's speed records; later recipes (in this process or another) read it back from the store.
"""

from __future__ import annotations

from vlmq.bench import speed as bench
from vlmq.device import device_label
from vlmq.engine import Engine
from vlmq.recipes import parse_recipe
from vlmq.store import Store
from vlmq.tasks.base import Task, TaskOptions, TaskRun
from vlmq.tasks.llava_bench import LlavaBenchTask

HF_EAGER_METRICS = {"hf_eager_decode_ms_per_token": "decode_ms_per_token", "hf_eager_ttft_ms": "ttft_ms"}


class MeasurementTask(Task):
    """Runs once per recipe (not sharded); its records are the measurements stored under its name."""

    sharded = False
    max_new_tokens = 64

    def run(self, ctx: TaskRun, opts: TaskOptions) -> int:
        if self.records(ctx.store, ctx.recipe, None, opts):
            return 0
        if ctx.kernel == "real":
            ctx.progress.note(f"[{ctx.recipe}] measuring {self.name}")
            records = self.measure(ctx, opts)
        else:
            records = [
                self.not_measured(
                    ctx.kernel, f"{ctx.kernel} kernels on this device: speed is reported only for real kernels"
                )
            ]
        ctx.store.put_measurements(ctx.recipe, records)
        return len(records)

    def measure(self, ctx: TaskRun, opts: TaskOptions) -> list[dict]:
        raise NotImplementedError

    def not_measured(self, kernel: str, reason: str) -> dict:
        return {
            "task": self.name,
            "metric": "not_measured",
            "value": None,
            "ci_low": None,
            "ci_high": None,
            "n": 0,
            "kernel": kernel,
            "reason": reason,
        }

    def records(self, store: Store, recipe: str, baseline: str | None, opts: TaskOptions) -> list[dict]:
        return [
            r for r in store.measurements(recipe) if r["task"] == self.name or r["task"].startswith(self.name + "/")
        ]


class SpeedTask(MeasurementTask):
    """TTFT (vision + prefill), decode ms/token, tokens/s, static/dynamic VRAM; batch and image sweeps."""

    name = "speed"

    def options(self, ctx: TaskRun, opts: TaskOptions) -> bench.SpeedOptions:
        engine = ctx.engine
        settings = opts.speed
        on_gpu = engine.device.type == "cuda"
        defaults = (
            bench.SpeedOptions()
            if on_gpu
            else bench.SpeedOptions(batch_sizes=(1, 4), new_tokens=16, warmups=1, repeats=3)
        )
        prompts = ()
        if settings.workload == "llava_bench":
            samples = LlavaBenchTask().load(TaskOptions(dataset_dir=opts.dataset_dir))
            prompts = tuple(s.prompt for s in samples if not s.failed)
        return bench.SpeedOptions(
            batch_sizes=settings.batch_sizes or defaults.batch_sizes,
            image_sizes=settings.image_sizes or defaults.image_sizes,
            new_tokens=settings.new_tokens or defaults.new_tokens,
            warmups=defaults.warmups,
            repeats=settings.repeats or defaults.repeats,
            workload=settings.workload,
            prompts=prompts,
            compile=settings.compile,
            kv=engine.kv,
            fp8_attention=engine.fp8_attention,
        )

    def measure(self, ctx: TaskRun, opts: TaskOptions) -> list[dict]:
        options = self.options(ctx, opts)
        loaded = ctx.engine.loaded
        baseline = stored_hf_eager_baseline(ctx.store)
        if baseline is None and parse_recipe(ctx.recipe).recipe.name == "bf16":
            prompts = bench.workload_prompts(options, 1, options.image_sizes[0])
            baseline = bench.measure_hf_eager_baseline(
                loaded, prompts, options.new_tokens, warmups=min(options.warmups, 1), repeats=min(options.repeats, 3)
            )
        return bench.run_speed(loaded, ctx.recipe, ctx.kernel, options, baseline=baseline)


def stored_hf_eager_baseline(store: Store) -> dict | None:
    """The HF eager BF16 figures some recipe of this run stored with its speed records, if any."""
    found = {}
    for rec in store.measurements():
        if rec["task"] == SpeedTask.name and rec["metric"] in HF_EAGER_METRICS:
            found[HF_EAGER_METRICS[rec["metric"]]] = rec["value"]
    return found if len(found) == len(HF_EAGER_METRICS) else None


class LongContextTask(MeasurementTask):
    """Decode ms/token and KV-cache memory at 8192 cached tokens x batch 16 (the benchmark's long-context
    point), with the recipe's KV format."""

    name = "speed-long"

    def measure(self, ctx: TaskRun, opts: TaskOptions) -> list[dict]:
        point = bench.LongContextOptions(kv=ctx.engine.kv, compile=opts.speed.compile)
        return bench.long_context_decode(ctx.engine.loaded, ctx.recipe, ctx.kernel, point, task=self.name)


class ProfileTask(MeasurementTask):
    """Kernel time per compiled decode step at batch 1 and at the sweep's largest batch, and per first token
    (vision + prefill) at batch 1 (torch.profiler, CUDA only): where a step's and TTFT's time goes."""

    name = "speed-profile"

    def measure(self, ctx: TaskRun, opts: TaskOptions) -> list[dict]:
        if ctx.engine.device.type != "cuda":
            return [self.not_measured(ctx.kernel, "kernel profiles need a CUDA device")]
        speed = SpeedTask().options(ctx, opts)
        loaded, device = ctx.engine.loaded, device_label(ctx.engine.device)
        records = []
        for batch in sorted({1, max(speed.batch_sizes)}):
            engine = Engine(loaded, kv=ctx.engine.kv, compile=True, max_batch_size=batch, max_seq_len=512)
            found = bench.profile_decode(engine, batch=batch)
            task = self.name if batch == 1 else f"{self.name}/bs{batch}"
            records.append(self.record(task, "kernel_us_per_step", ctx.kernel, device, found))
            del engine
        prompts = bench.workload_prompts(speed, 1, speed.image_sizes[0])
        engine = Engine(loaded, kv=ctx.engine.kv, compile=True, max_batch_size=1, max_seq_len=512)
        found = bench.profile_prefill(engine, prompts)
        records.append(self.record(f"{self.name}/ttft", "kernel_us_per_first_token", ctx.kernel, device, found))
        return records

    def record(self, task: str, metric: str, kernel: str, device: str, found: dict) -> dict:
        return {"task": task, **bench.profile_fields(found, metric), "kernel": kernel, "device": device}
