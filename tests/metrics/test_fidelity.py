"""The bucketed top-k KL against the exact full-vocabulary KL, top-1 agreement, flips and their intervals."""

import math

import numpy as np
import pytest
import torch

from vlmq.errors import VlmqError
from vlmq.metrics.fidelity import (
    answer_fidelity,
    bucketed_kl,
    flips,
    full_kl,
    mean_with_ci,
    reference_from_logprobs,
    top1_agreement,
)


def logprobs(seed: int, positions: int = 6, vocab: int = 1000, temperature: float = 3.0) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.log_softmax(torch.randn(positions, vocab) * temperature, dim=-1)


def perturbed(ref: torch.Tensor, seed: int, scale: float) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.log_softmax(ref + scale * torch.randn_like(ref), dim=-1)


def test_identical_distributions_have_zero_kl_and_full_agreement():
    p = logprobs(0)
    ref = reference_from_logprobs(p, k=5)
    assert bucketed_kl(ref, p).abs().max() < 1e-12
    assert top1_agreement(ref, p).all()
    assert full_kl(p, p).abs().max() < 1e-12


@pytest.mark.parametrize("k", [1, 5, 20, 100])
@pytest.mark.parametrize("seed", range(6))
def test_bucketed_kl_is_a_lower_bound_of_the_full_kl(seed, k):
    p = logprobs(seed, temperature=1.0 + seed)
    q = perturbed(p, seed + 100, scale=0.2 * (1 + seed))
    exact = full_kl(p, q)
    approx = bucketed_kl(reference_from_logprobs(p, k=k), q)
    assert (approx <= exact + 1e-12).all()
    assert (approx >= 0).all()


def test_gap_equals_tail_mass_times_the_tail_kl():
    """KL = KL_k + p_rest * KL(p_tail / p_rest || q_tail / q_rest): the identity docs/tasks.md states."""
    p, q = logprobs(3, positions=4, vocab=300), perturbed(logprobs(3, positions=4, vocab=300), 7, 0.5)
    k = 10
    ref = reference_from_logprobs(p, k=k)
    gap = full_kl(p, q) - bucketed_kl(ref, q)
    for row in range(4):
        tail = torch.ones(300, dtype=torch.bool)
        tail[torch.tensor(ref["top_ids"][row])] = False
        p_tail, q_tail = p[row][tail].double(), q[row][tail].double()
        p_rest, q_rest = torch.logsumexp(p_tail, 0), torch.logsumexp(q_tail, 0)
        tail_kl = ((p_tail - p_rest).exp() * ((p_tail - p_rest) - (q_tail - q_rest))).sum()
        assert gap[row].item() == pytest.approx((p_rest.exp() * tail_kl).item(), rel=1e-6, abs=1e-12)


def test_bucketed_kl_is_exact_when_the_tail_keeps_its_shape():
    """Recipe moves mass only among the top k and scales the tail uniformly: nothing is lost."""
    p = logprobs(5, positions=3, vocab=200)
    ref = reference_from_logprobs(p, k=8)
    q = p.clone()
    ids = torch.tensor(ref["top_ids"])
    q.scatter_(-1, ids, q.gather(-1, ids) + torch.randn(3, 8) * 0.3)
    q = torch.log_softmax(q, dim=-1)  # renormalising rescales the tail by one factor per row
    torch.testing.assert_close(bucketed_kl(ref, q), full_kl(p, q), rtol=1e-6, atol=1e-12)


def test_all_of_the_vocabulary_in_the_top_k_is_exact():
    p, q = logprobs(1, vocab=30), perturbed(logprobs(1, vocab=30), 2, 1.0)
    ref = reference_from_logprobs(p, k=30)
    assert all(math.isinf(r) for r in ref["rest_logprob"])
    torch.testing.assert_close(bucketed_kl(ref, q), full_kl(p, q), rtol=1e-6, atol=1e-12)


def test_rest_mass_is_exact_where_one_minus_the_sum_would_cancel():
    """A peaked distribution: 1 - sum(top k) rounds to 0 in float32; the logsumexp keeps the tail."""
    logits = torch.full((1, 1000), -40.0)
    logits[0, 0] = 0.0
    p = torch.log_softmax(logits, dim=-1)
    ref = reference_from_logprobs(p, k=1)
    assert ref["rest_logprob"][0] == pytest.approx(math.log(999) - 40.0, rel=1e-6)


def test_top1_agreement_and_answer_summary():
    p = logprobs(4, positions=3, vocab=50)
    ref = reference_from_logprobs(p, k=3)
    q = p.clone()
    other = (ref["top_ids"][1][0] + 1) % 50
    q[1] = torch.log_softmax(torch.nn.functional.one_hot(torch.tensor(other), 50).float() * 20, dim=-1)
    agree = top1_agreement(ref, q).tolist()
    assert agree == [True, False, True]  # position 1 now prefers another token
    summary = answer_fidelity(ref, q)
    assert summary["positions"] == 3 and len(summary["kl"]) == 3
    assert summary["kl_max"] == pytest.approx(max(summary["kl"]))
    assert summary["kl_mean"] == pytest.approx(sum(summary["kl"]) / 3)
    assert summary["top1_agreement"] == pytest.approx(sum(agree) / 3)


def test_flips_count_each_direction():
    to_wrong, to_right = flips([1, 1, 0, 0, 0.6], [0, 1, 1, 0, 0.3])
    assert to_wrong == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert to_right == [0.0, 0.0, 1.0, 0.0, 0.0]
    with pytest.raises(VlmqError):
        flips([1, 0], [1])


def test_mean_with_ci_brackets_the_value_and_max_uses_its_statistic():
    values = list(np.linspace(0.0, 1.0, 50))
    value, (low, high) = mean_with_ci(values, seed=0)
    assert low < value < high and value == pytest.approx(0.5)
    top, (low, high) = mean_with_ci(values, seed=0, statistic=np.max)
    assert top == 1.0 and high == 1.0 and low < 1.0


def test_mismatched_positions_are_a_clear_error():
    p = logprobs(0, positions=4)
    ref = reference_from_logprobs(p, k=3)
    with pytest.raises(VlmqError, match="teacher-force"):
        bucketed_kl(ref, p[:3])
    with pytest.raises(VlmqError):
        reference_from_logprobs(torch.zeros(0, 5))
