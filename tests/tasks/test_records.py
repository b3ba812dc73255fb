"""Aggregate and paired records: the contract's fields, in the order results.jsonl shows them, as plain floats."""

import numpy as np

from vlmq.tasks.base import TaskOptions, compare_record, metric_record


def test_aggregate_and_paired_records_carry_the_contract_fields_in_order():
    opts = TaskOptions(jpeg_quality=75, scoring="lmms_eval")
    rec = metric_record("vqav2", "accuracy", np.float32(0.5), (None, np.float64(0.75)), 3, opts, n_failed=1)
    fields = "task metric value ci_low ci_high n test mode n_failed image_preprocess"
    assert list(rec) == fields.split()
    assert (type(rec["value"]), type(rec["ci_high"]), rec["ci_low"]) == (float, float, None)
    assert (rec["mode"], rec["image_preprocess"], rec["n_failed"]) == ("lmms_eval", "jpeg_q75", 1)
    pair = compare_record("vqav2", "accuracy", np.float64(0.1), (0.0, 0.2), None, "mcnemar", 5, opts)
    assert list(pair) == ["task", "metric", "delta", "ci_low", "ci_high", "p_value", "test", "n", "mode"]
    assert (type(pair["delta"]), pair["p_value"], pair["test"], pair["n"]) == (float, None, "mcnemar", 5)
