"""The remedy experiment: visual values pushed past FP8's range hurt; calibrated visual scales do not;
every FP8 setting costs the same cache bytes."""

import pytest

from vlmq.diagnose.remedy import remedy_experiment


@pytest.fixture(scope="module")
def rows():
    from vlmq.models import load_model
    from vlmq.recipes import load_calibration
    from vlmq.tasks import TaskOptions, get_task

    calib = load_calibration("builtin", n=4, seed=0)
    samples = {"shapes-vqa": get_task("shapes-vqa").load(TaskOptions(limit=3))}
    return {r["setting"]: r for r in remedy_experiment(load_model("tiny"), samples, calib, gain=4.0)}


def test_misscaled_visual_scales_saturate_visual_tokens_only_and_cost_kl(rows):
    bad, good = rows["visual_x4_misscaled"], rows["visual_aware"]
    assert bad["saturated_visual"] > 0.05 and bad["saturated_text"] == 0.0
    # calibrated on 4 other images: a few task values may still clip, far fewer than when mis-scaled
    assert good["saturated_visual"] < 0.01 and bad["saturated_visual"] > 20 * good["saturated_visual"]
    assert rows["dynamic"]["saturated_text"] == 0.0
    assert bad["kl_mean"] > 10 * good["kl_mean"]
    assert bad["min_sqnr_db"] < 15 < good["min_sqnr_db"]


def test_every_fp8_setting_keeps_the_same_memory_saving(rows):
    fp8 = {r["bytes_vs_bf16"] for name, r in rows.items() if name != "bf16"}
    assert fp8 == {(16 + 4) / 32}  # tiny head_dim 16: FP8 entries + one FP32 scale per position (exact)
    assert rows["bf16"]["kl_mean"] == 0.0
    assert all(0.0 <= r["scores"]["shapes-vqa"] <= 1.0 for r in rows.values())
