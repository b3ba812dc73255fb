"""torchrun on CPUs (gloo): the same records as one process; kill and resume with another world size."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from vlmq.pipeline.distributed import World, batch_shard, merge_rank_stores, recipe_shard
from vlmq.store import Store, rank_store_path

ARGS = ["--model", "tiny", "--recipes", "bf16,int8_wo", "--tasks", "shapes-vqa,shapes-mme", "--limit", "24", "--quiet"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def torchrun(nproc: int, out, *extra, **popen):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(nproc),
        "-m",
        "vlmq",
        "run",
        *ARGS,
        "--out",
        str(out),
        *extra,
    ]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)


def single(out, *extra):
    return subprocess.run(
        [sys.executable, "-m", "vlmq", "run", *ARGS, "--out", str(out), *extra], env=ENV, capture_output=True, text=True
    )


def sample_rows(out):
    return (
        sqlite3.connect(out / "vlmq.sqlite")
        .execute("SELECT recipe, task, sample_id, output, score FROM samples ORDER BY 1, 2, 3")
        .fetchall()
    )


def metric_values(out):
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return sorted((r["recipe"], r["task"], r["metric"], r["value"], r.get("ci_low"), r.get("p_value")) for r in recs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    done = single(out)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("mode", ["data", "recipe"])
def test_two_ranks_write_the_single_process_records(reference, tmp_path, mode):
    proc = torchrun(2, tmp_path, "--parallel", mode)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert sample_rows(tmp_path) == sample_rows(reference)
    assert metric_values(tmp_path) == metric_values(reference)
    assert not list(tmp_path.glob("vlmq.rank*")), "rank files must be merged and removed"


def test_kill_a_two_rank_run_and_resume_with_one_process(reference, tmp_path):
    proc = torchrun(2, tmp_path, "--batch-size", "2", start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        stored = 0
        for path in tmp_path.glob("vlmq.rank*.sqlite"):
            try:
                stored += sqlite3.connect(path).execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            except sqlite3.OperationalError:
                pass
        if stored >= 6:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(tmp_path.glob("vlmq.rank*.sqlite")), "the run was not killed mid-task"
    done = single(tmp_path, "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    rows = sample_rows(tmp_path)
    assert [r[:3] for r in rows] == [r[:3] for r in sample_rows(reference)]
    assert len(rows) == len(set(r[:3] for r in rows))


def test_batch_shard_deals_whole_batches_exactly_once():
    items = list(range(23))
    shards = [batch_shard(items, World(rank=r, world_size=3), batch_size=4) for r in range(3)]
    assert sorted(sum(shards, [])) == items
    assert shards[1][:4] == [4, 5, 6, 7] and shards[0][4:8] == [12, 13, 14, 15]
    assert recipe_shard(("a", "b", "c"), World(rank=1, world_size=2)) == ("b",)


def test_merge_keeps_the_worst_outcome_and_every_sample_once(tmp_path):
    main = Store(tmp_path)
    main.put_sample({"recipe": "r", "task": "t", "sample_id": "0"})
    for rank, status in ((0, "ok"), (1, "failed")):
        store = Store(tmp_path, path=rank_store_path(tmp_path, rank))
        store.put_sample({"recipe": "r", "task": "t", "sample_id": "0"})
        store.put_sample({"recipe": "r", "task": "t", "sample_id": str(rank + 1)})
        store.set_outcome("r", status, reason="boom" if status == "failed" else "")
        store.close()
    assert merge_rank_stores(main) == 2
    assert main.done_ids("r", "t") == {"0", "1", "2"}
    assert main.outcomes()["r"]["status"] == "failed"
    assert not list(tmp_path.glob("vlmq.rank*"))
