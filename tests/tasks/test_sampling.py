from collections import Counter

import pytest

from vlmq.errors import VlmqError
from vlmq.tasks.sampling import allocate, grouped_sample, stratified_sample


def _keys():
    # 60% yes/no, 30% number, 10% other; two question types inside yes/no.
    return (
        [("yes/no", "is the")] * 400
        + [("yes/no", "is there a")] * 200
        + [("number", "how many")] * 300
        + [("other", "what color")] * 100
    )


def test_allocate_is_proportional_and_sums_to_quota():
    shares = allocate({"a": 600, "b": 300, "c": 100}, 7)
    assert sum(shares.values()) == 7
    assert shares == {"a": 4, "b": 2, "c": 1}  # 4.2, 2.1, 0.7 -> the largest remainder gets the spare


def test_allocate_caps_at_the_total():
    assert allocate({"a": 2, "b": 1}, 10) == {"a": 2, "b": 1}


def test_stratified_sample_keeps_the_mix_at_every_level():
    keys = _keys()
    picked = stratified_sample(keys, 50, seed=3)
    assert len(picked) == 50 and len(set(picked)) == 50
    counts = Counter(keys[i] for i in picked)
    assert counts[("yes/no", "is the")] == 20 and counts[("yes/no", "is there a")] == 10
    assert counts[("number", "how many")] == 15 and counts[("other", "what color")] == 5


def test_stratified_sample_is_deterministic_and_seeded():
    keys = _keys()
    assert stratified_sample(keys, 50, seed=3) == stratified_sample(keys, 50, seed=3)
    assert stratified_sample(keys, 50, seed=3) != stratified_sample(keys, 50, seed=4)
    assert stratified_sample(keys, 50, seed=3) == sorted(stratified_sample(keys, 50, seed=3))


def test_no_limit_or_a_large_one_keeps_everything():
    keys = _keys()
    assert stratified_sample(keys, None, seed=0) == list(range(len(keys)))
    assert stratified_sample(keys, 5000, seed=0) == list(range(len(keys)))


@pytest.mark.parametrize("limit", [0, -3])
def test_non_positive_limit_is_an_error(limit):
    with pytest.raises(VlmqError, match="limit"):
        stratified_sample(_keys(), limit, seed=0)


def test_grouped_sample_draws_whole_groups_by_stratum():
    # 3 subtasks x 10 images x 2 questions.
    keys = [(subtask,) for subtask in ("count", "color", "OCR") for _ in range(20)]
    groups = [f"{key[0]}/{i // 2}" for i, key in enumerate(keys)]
    picked = grouped_sample(keys, groups, 12, seed=1)
    per_group = Counter(groups[i] for i in picked)
    assert len(picked) == 12 and set(per_group.values()) == {2}
    assert Counter(keys[i][0] for i in picked) == {"count": 4, "color": 4, "OCR": 4}
    assert grouped_sample(keys, groups, 12, seed=1) == picked


def test_grouped_sample_rounds_an_odd_limit_up_to_whole_pairs():
    keys = [("count",)] * 8
    groups = ["a", "a", "b", "b", "c", "c", "d", "d"]
    assert len(grouped_sample(keys, groups, 3, seed=0)) == 4
