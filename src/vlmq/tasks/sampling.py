"""Deterministic, seeded, stratified subsampling (pure functions, no I/O).

A `limit` of 500 VQAv2 questions must keep the answer-type and question-type mix of the full split,
and the same (limit, seed) must pick the same questions on every machine. Allocation is hierarchical:
the quota is split over the first key level by the largest-remainder (Hamilton) method, then each
share over the next level, and so on; within the finest stratum the units are drawn with a
``random.Random`` seeded from a string (string seeds are hashed with SHA-512, so the draw does not
depend on ``PYTHONHASHSEED``).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Hashable, Sequence

from vlmq.errors import VlmqError

StratumKey = tuple[str, ...]


def allocate(sizes: dict[Hashable, int], quota: int) -> dict[Hashable, int]:
    """Split ``quota`` over strata in proportion to ``sizes`` (largest remainder, capped at each size).

    Ties on the remainder go to the larger stratum, then to the smaller key, so the result is
    deterministic. The shares sum to ``min(quota, sum(sizes))``.
    """
    total = sum(sizes.values())
    quota = min(quota, total)
    if quota <= 0 or total == 0:
        return {key: 0 for key in sizes}
    exact = {key: quota * size / total for key, size in sizes.items()}
    shares = {key: math.floor(value) for key, value in exact.items()}
    order = sorted(sizes, key=lambda key: (-(exact[key] - shares[key]), -sizes[key], str(key)))
    for key in order[: quota - sum(shares.values())]:
        shares[key] += 1
    return shares


def _draw(members: list[int], k: int, seed: int, key: StratumKey) -> list[int]:
    rng = random.Random(f"vlmq:{seed}:{'/'.join(key)}")
    return rng.sample(members, k)


def _select(members: dict[StratumKey, list[int]], quota: int, level: int, prefix: StratumKey, seed: int) -> list[int]:
    if not members:
        return []
    depth = len(next(iter(members)))
    if level == depth:
        return _draw(members[prefix], quota, seed, prefix)
    children: dict[str, dict[StratumKey, list[int]]] = defaultdict(dict)
    for key, idx in members.items():
        children[key[level]][key] = idx
    sizes = {child: sum(len(idx) for idx in group.values()) for child, group in children.items()}
    picked: list[int] = []
    for child, share in allocate(sizes, quota).items():
        picked += _select(children[child], share, level + 1, prefix + (child,), seed)
    return picked


def stratified_sample(keys: Sequence[StratumKey], limit: int | None, seed: int) -> list[int]:
    """Indices of a stratified subsample of ``limit`` units, ascending (dataset order kept).

    ``keys[i]`` is the stratum of unit ``i`` as a tuple of levels, coarse first, e.g.
    ``(answer_type, question_type)``; every key must have the same number of levels.
    ``limit=None`` or ``limit >= len(keys)`` returns every index.
    """
    if limit is not None and limit < 1:
        raise VlmqError(f"limit must be a positive number of samples, got {limit}; pass --limit 1 or more")
    if limit is None or limit >= len(keys):
        return list(range(len(keys)))
    if len({len(key) for key in keys}) > 1:
        raise VlmqError("stratum keys have different depths; give every unit the same key levels")
    members: dict[StratumKey, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        members[tuple(str(part) for part in key)].append(index)
    return sorted(_select(dict(members), limit, 0, (), seed))


def grouped_sample(keys: Sequence[StratumKey], groups: Sequence[str], limit: int | None, seed: int) -> list[int]:
    """Like `stratified_sample`, but draws whole groups (e.g. both MME questions of one image).

    ``limit`` counts items; it becomes ``ceil(limit / mean group size)`` groups so a pair is never
    split. A group's stratum is the key of its first item. Returns item indices, ascending.
    """
    if len(keys) != len(groups):
        raise VlmqError("keys and groups differ in length; pass one group id per item")
    members: dict[str, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    names = list(members)
    if limit is not None and limit >= 1:
        limit = math.ceil(limit * len(names) / max(len(keys), 1))
    chosen = stratified_sample([keys[members[name][0]] for name in names], limit, seed)
    return sorted(index for position in chosen for index in members[names[position]])
