"""Fidelity of a recipe to the baseline on the same prompts: next-token KL, top-1 agreement, flips.

Both models are teacher-forced on the *baseline's* greedy answer, so position j of both compares the
next-token distributions after the same prefix. The baseline keeps only its top-k log-probabilities
per position plus the log of the mass outside them (`reference_from_logprobs`); a recipe's KL is then
taken over those k tokens plus one bucket for the rest (`bucketed_kl`):

    KL_k = sum_{i in top-k} p_i log(p_i / q_i) + p_rest log(p_rest / q_rest)

Merging tokens into one bucket can only lose information (log-sum inequality), so KL_k <= KL exactly,
and the gap is  p_rest * KL(p_tail / p_rest || q_tail / q_rest): the baseline's tail mass times the KL
of the two tails' shapes. It is zero when the tails have the same shape and vanishes as p_rest -> 0.

Everything here is pure (tensors or lists in, numbers out).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vlmq.errors import VlmqError
from vlmq.metrics.stats import bootstrap_ci

DEFAULT_TOP_K = 20
FIDELITY_METRICS = ("kl_mean", "kl_max", "top1_agreement", "flips_to_wrong", "flips_to_right", "changed_answers")


def reference_from_logprobs(logprobs: torch.Tensor, k: int = DEFAULT_TOP_K) -> dict:
    """What the baseline stores per answer position (JSON-able): ``top_ids`` [L][k], ``top_logprobs``
    [L][k] (descending) and ``rest_logprob`` [L], the log of the probability outside the top k."""
    _check_logprobs(logprobs)
    k = min(k, logprobs.shape[-1])
    top = logprobs.float().topk(k, dim=-1)
    return {
        "top_ids": top.indices.tolist(),
        "top_logprobs": top.values.tolist(),
        "rest_logprob": _rest_logprob(logprobs, top.indices).tolist(),
    }


def bucketed_kl(reference: dict, logprobs: torch.Tensor) -> torch.Tensor:
    """[L] KL(P_ref || Q) in nats over the reference's top-k tokens plus one bucket for the rest.

    ``logprobs`` [L, vocab] is the recipe's log-softmax at the same positions. A lower bound of the
    full-vocabulary KL (see the module docstring); float64 inside, clamped at 0 against rounding.
    """
    ids, p_top, p_rest = _reference_tensors(reference, logprobs)
    q = logprobs.double()
    q_top = q.gather(-1, ids)
    q_rest = _rest_logprob(q, ids)
    top = (p_top.exp() * (p_top - q_top)).sum(-1)
    rest = torch.where(torch.isinf(p_rest), torch.zeros_like(p_rest), p_rest.exp() * (p_rest - q_rest))
    return (top + rest).clamp_min(0.0)


def full_kl(ref_logprobs: torch.Tensor, logprobs: torch.Tensor) -> torch.Tensor:
    """[L] exact KL(P_ref || Q) in nats over the whole vocabulary, from two log-softmax tensors."""
    _check_logprobs(ref_logprobs)
    _check_logprobs(logprobs)
    p, q = ref_logprobs.double(), logprobs.double()
    return (p.exp() * (p - q)).sum(-1).clamp_min(0.0)


def top1_agreement(reference: dict, logprobs: torch.Tensor) -> torch.Tensor:
    """[L] bool: the recipe's most likely next token is the baseline's."""
    ids, _, _ = _reference_tensors(reference, logprobs)
    return logprobs.argmax(dim=-1) == ids[:, 0]


def answer_fidelity(reference: dict, logprobs: torch.Tensor) -> dict:
    """Per answer: ``kl`` and ``top1`` per position, and their summary (mean, max, share agreeing)."""
    kl = bucketed_kl(reference, logprobs)
    agree = top1_agreement(reference, logprobs)
    return {
        "kl": kl.tolist(),
        "top1": agree.tolist(),
        "kl_mean": float(kl.mean()),
        "kl_max": float(kl.max()),
        "top1_agreement": float(agree.double().mean()),
        "positions": int(kl.numel()),
    }


def flips(base_scores: Sequence[float], scores: Sequence[float]) -> tuple[list[float], list[float]]:
    """Per paired sample, 1.0 where the recipe's score fell below the baseline's (``to_wrong``) or rose
    above it (``to_right``). On right/wrong scores these are the correctness flips; on graded scores
    (VQA soft accuracy) any change of the score counts as a flip in its direction."""
    if len(base_scores) != len(scores):
        raise VlmqError(f"flips need paired scores; got {len(base_scores)} baseline and {len(scores)} recipe scores")
    to_wrong = [float(s < b) for b, s in zip(base_scores, scores)]
    to_right = [float(s > b) for b, s in zip(base_scores, scores)]
    return to_wrong, to_right


def mean_with_ci(
    values: Sequence[float], *, seed: int = 0, n_boot: int = 1000, statistic=np.mean
) -> tuple[float, tuple[float, float]]:
    """(statistic over per-sample values, its 95% percentile-bootstrap interval over samples)."""
    array = np.asarray(values, dtype=np.float64)
    return float(statistic(array)), bootstrap_ci(array, n_boot=n_boot, seed=seed, statistic=statistic)


def _rest_logprob(logprobs: torch.Tensor, top_ids: torch.Tensor) -> torch.Tensor:
    """log of the probability mass outside ``top_ids``, exact (a logsumexp, not 1 - sum, which cancels)."""
    masked = logprobs.double().scatter(-1, top_ids, float("-inf"))
    return torch.logsumexp(masked, dim=-1)


def _reference_tensors(reference: dict, logprobs: torch.Tensor):
    _check_logprobs(logprobs)
    ids = torch.as_tensor(reference["top_ids"], dtype=torch.long, device=logprobs.device)
    p_top = torch.as_tensor(reference["top_logprobs"], dtype=torch.float64, device=logprobs.device)
    p_rest = torch.as_tensor(reference["rest_logprob"], dtype=torch.float64, device=logprobs.device)
    if ids.ndim != 2 or ids.shape[0] != logprobs.shape[0] or p_top.shape != ids.shape or p_rest.shape != ids.shape[:1]:
        raise VlmqError(
            f"reference covers {ids.shape[0] if ids.ndim else 0} positions, the recipe's log-probs "
            f"{logprobs.shape[0]}; teacher-force the recipe on the reference's own tokens"
        )
    return ids, p_top, p_rest


def _check_logprobs(logprobs: torch.Tensor) -> None:
    if not isinstance(logprobs, torch.Tensor) or logprobs.ndim != 2 or logprobs.shape[0] == 0:
        raise VlmqError(
            "log-probabilities must be a [positions, vocab] tensor with at least one position; "
            "use Engine.teacher_forced_logprobs"
        )
