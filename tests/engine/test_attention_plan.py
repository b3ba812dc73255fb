"""``$VLMQ_ATTENTION_PLAN``: the fused decode attention's plan set by hand for an A/B of whole decode steps.

Parsed here on any machine; the op's launch reads it (checked with the launcher recorded); Triton's interpreter
runs the engine with a plan set (test_fused_interpreter.py) and the GPU the A/B (benchmarks/planned/)."""

import pytest
import torch

from vlmq.engine.kernels import attention
from vlmq.engine.kernels.attention import ATTENTION_PLAN_ENV, attention_plan_setting, launch_fused_attention
from vlmq.errors import VlmqError


@pytest.mark.parametrize("value", [None, "", " ", "default"])
def test_unset_empty_or_default_is_the_default_plan(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(ATTENTION_PLAN_ENV, raising=False)
    else:
        monkeypatch.setenv(ATTENTION_PLAN_ENV, value)
    assert attention_plan_setting() == {}


def test_plan_keys_map_to_the_launcher_keywords(monkeypatch):
    monkeypatch.setenv(
        ATTENTION_PLAN_ENV, "prefetch=2, splits=3,warps=4,targets=128,combine=1,stages=1,rounding=0,block=32"
    )
    assert attention_plan_setting() == dict(
        prefetch_blocks=2,
        max_splits=3,
        num_warps=4,
        target_programs=128,
        combine_form=1,
        num_stages=1,
        rounding=0,
        block_l=32,
    )


@pytest.mark.parametrize(
    "value",
    [
        "prefetch=9",
        "prefetch=0",
        "blocks=2",
        "splits",
        "warps=x",
        "splits=0",
        "warps=3",
        "targets=100",
        "combine=2",
        "stages=4",
        "stages=0",
        "rounding=2",
        "block=48",
        "block=16",
        "default,prefetch=2",
    ],
)
def test_bad_plan_is_one_line_naming_the_form(monkeypatch, value):
    monkeypatch.setenv(ATTENTION_PLAN_ENV, value)
    form = r"use comma-separated key=value \(prefetch in 1\.\.8, warps in 1\|2\|4\|8"
    with pytest.raises(VlmqError, match=form) as err:
        attention_plan_setting()
    assert "\n" not in str(err.value) and "e.g. prefetch=2" in str(err.value)
    assert "block in 32|64" in str(err.value)  # the values a key takes, not a range they do not fill


def test_the_ops_launch_passes_the_plan(monkeypatch):
    """``vlmq::rope_kv_decode_attention``'s CUDA launch hands the plan to the kernel launcher, with the step's RoPE
    inputs; without a setting it passes nothing (the launcher's measured defaults)."""
    calls = []
    monkeypatch.setattr(attention, "launch_decode_attention", lambda *a, **kw: calls.append((a, kw)))
    args = [torch.zeros(1) for _ in range(13)]
    monkeypatch.delenv(ATTENTION_PLAN_ENV, raising=False)
    monkeypatch.delenv("VLMQ_ATTENTION_TRACE", raising=False)
    launch_fused_attention(*args)
    monkeypatch.setenv(ATTENTION_PLAN_ENV, "prefetch=2,splits=4")
    launch_fused_attention(*args)
    (plain_args, plain), (_, planned) = calls
    assert set(plain) == {"rope", "trace"} and len(plain["rope"]) == 7 and plain_args[0] is args[0]
    assert plain["trace"] is False  # untraced unless $VLMQ_ATTENTION_TRACE=1
    assert planned == dict(rope=plain["rope"], trace=False, prefetch_blocks=2, max_splits=4)


@pytest.mark.parametrize("combine_form", [0, 1])
def test_two_launch_combine_takes_the_attention_kernels_combine_form(monkeypatch, combine_form):
    """The second launch of the two-launch scheme combines the splits in the form the attention kernel's own combine
    uses (a tile a split, summed in order, or one tile reduced), so the schemes sum in one order. The GPU showed why:
    the forms round apart in bf16, and the two-launch check (``test_attention_gpu.py``) failed on the 7b heads while
    the second launch kept the earlier form."""
    pytest.importorskip("triton")
    from vlmq.engine.kernels import attention_triton

    launches = {}

    class Recorder:
        def __init__(self, name):
            self.name = name

        def __getitem__(self, grid):
            return lambda *args, **kwargs: launches.setdefault(self.name, kwargs)

    monkeypatch.setattr(attention_triton, "decode_attention_kernel", Recorder("attention"))
    monkeypatch.setattr(attention_triton, "combine_kernel", Recorder("combine"))
    q = torch.zeros(1, 2, 1, 16, dtype=torch.bfloat16)
    k = torch.zeros(1, 1, 300, 16, dtype=torch.bfloat16)
    valid = torch.ones(1, 300, dtype=torch.bool)
    attention.launch_decode_attention(q, k, k, None, None, valid, combine_in_kernel=False, combine_form=combine_form)
    assert launches["attention"]["COMBINE_FORM"] == launches["combine"]["COMBINE_FORM"] == combine_form
    assert launches["attention"]["COMBINE_IN_KERNEL"] is False
