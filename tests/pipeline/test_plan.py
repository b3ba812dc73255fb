"""Planning: the options every task reads come from the run spec."""

from vlmq.pipeline import task_options
from vlmq.spec import RunSpec
from vlmq.tasks import SpeedSettings, TaskOptions


def test_task_options_carry_every_spec_field_they_name():
    speed = dict(batch_sizes=(1, 2), image_sizes=(224,), new_tokens=9, repeats=2, workload="llava_bench")
    shared = dict(dataset_dir="/d", seed=3, jpeg_quality=75, scoring="lmms_eval", batch_size=2, prompts="p", prompt="q")
    spec = RunSpec(limit=5, limits=("vqav2=7",), compile=False, **shared, **{f"speed_{k}": v for k, v in speed.items()})
    expected = TaskOptions(limit=5, speed=SpeedSettings(compile=False, **speed), **shared)
    assert task_options(spec) == expected
    assert task_options(spec, "vqav2").limit == 7 and task_options(spec, "pope").limit == 5
    assert task_options(RunSpec()) == TaskOptions()  # the spec's defaults are the options' defaults
