"""Failed samples summarised per recipe and task: counts, grouped reasons with their first ids, the alarm share."""

from vlmq.tasks.failures import WARN_SHARE, failure_summaries


def rows(recipe, task, n, failed):
    return [{"recipe": recipe, "task": task, "sample_id": str(i), "error": failed.get(i)} for i in range(n)]


def test_groups_reasons_most_frequent_first_with_their_ids():
    reason = "unreadable image: UnidentifiedImageError: cannot identify image file"
    data = rows("bf16", "vqav2", 16, {4: reason, 7: reason, 9: reason, 12: "unreadable image: OSError: truncated"})
    data += rows("bf16", "pope", 10, {})
    (summary,) = failure_summaries(data)
    assert (summary.recipe, summary.task, summary.n, summary.n_failed) == ("bf16", "vqav2", 16, 4)
    assert summary.reasons[0] == (reason, ["4", "7", "9"])
    assert summary.describe() == (
        f"4 failed of 16: {reason} — ids 4, 7, 9; unreadable image: OSError: truncated — id 12"
    )
    assert summary.share == 0.25 and summary.alarming


def test_long_lists_and_reasons_are_shortened_and_small_shares_do_not_alarm():
    data = rows("int8_wo", "mme", 400, {i: "x" * 300 for i in range(8)})
    (summary,) = failure_summaries(data)
    assert summary.describe().endswith("ids 0, 1, 2, 3, 4 and 3 more")
    assert len(summary.reasons[0][0]) == 120
    assert summary.share == 0.02 < WARN_SHARE and not summary.alarming
    assert failure_summaries(rows("bf16", "vqav2", 5, {})) == []
