"""Scale past one process with torchrun: data-parallel evaluation or one recipe per rank.

vlmq invents no scheduler: `torchrun --nproc_per_node N -m vlmq run ...` (any rendezvous torchrun
supports, multi-node included) sets RANK / WORLD_SIZE / LOCAL_RANK and vlmq reads them.

- data parallel (default): every rank runs every recipe on its shard of each task. Shards are whole
  generation batches dealt round-robin, so every batch holds the same samples as in a single-process
  run and the records are identical.
- recipe parallel (`--parallel recipe`): rank r runs recipes r, r+N, ... on all samples.

Every rank writes its own SQLite file (`vlmq.rank<R>.sqlite`) — no two processes write one file,
which also keeps shared file systems safe — and rank 0 merges them into `vlmq.sqlite` at the end.
A killed run leaves its rank files behind; the next run (with any N) merges them first, so nothing
is lost or duplicated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from vlmq.store import RANK_STORE_GLOB, STORE_NAME, Store

STATUS_PRECEDENCE = {"failed": 3, "skipped": 2, "ok": 1}


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_world() -> World:
    env = os.environ
    return World(
        int(env.get("RANK", 0)),
        int(env.get("WORLD_SIZE", 1)),
        int(env.get("LOCAL_RANK", 0)),
        int(env.get("LOCAL_WORLD_SIZE", env.get("WORLD_SIZE", 1))),
    )


def init(world: World, device: str) -> str:
    """Join the process group (NCCL on GPUs, gloo on CPUs); return this rank's device."""
    if not world.distributed:
        return device
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(world.local_rank)
        device = f"cuda:{world.local_rank}"
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_world_size))
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    return device


def barrier(world: World) -> None:
    if world.distributed and torch.distributed.is_initialized():
        torch.distributed.barrier()


def shutdown(world: World) -> None:
    if world.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def batch_shard(items: list, world: World, batch_size: int) -> list:
    """This rank's share: whole batches of `batch_size`, dealt round-robin (batch composition unchanged)."""
    if not world.distributed:
        return items
    return [item for i, item in enumerate(items) if (i // batch_size) % world.world_size == world.rank]


def recipe_shard(recipes: tuple[str, ...], world: World) -> tuple[str, ...]:
    return recipes if not world.distributed else recipes[world.rank :: world.world_size]


def merge_rank_stores(main: Store) -> int:
    """Move every rank file's rows into the main store (idempotent), then delete the rank files."""
    merged = 0
    for path in sorted(main.run_dir.glob(RANK_STORE_GLOB)):
        if path.name == STORE_NAME:
            continue
        db = main.db
        db.execute("ATTACH DATABASE ? AS rank_db", (str(path),))
        try:
            db.execute("BEGIN")
            merged += db.execute("INSERT OR IGNORE INTO samples SELECT * FROM rank_db.samples").rowcount
            db.execute("INSERT OR REPLACE INTO measurements SELECT * FROM rank_db.measurements")
            for recipe, status, reason, kernel, details, updated in db.execute(
                "SELECT * FROM rank_db.outcomes"
            ).fetchall():
                current = db.execute("SELECT status FROM outcomes WHERE recipe=?", (recipe,)).fetchone()
                if current is None or STATUS_PRECEDENCE[status] >= STATUS_PRECEDENCE.get(current[0], 0):
                    db.execute(
                        "INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?, ?, ?)",
                        (recipe, status, reason, kernel, details, updated),
                    )
            db.execute("COMMIT")
        finally:
            db.execute("DETACH DATABASE rank_db")
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return merged
