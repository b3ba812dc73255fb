"""Run folders that guard what they hold: resume checks identity and prompts, one writer at a time, a --fresh
that loses nothing, and one-line errors for read-only, garbage, busy and misplaced inputs."""

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from vlmq.errors import RunInputError, VlmqError
from vlmq.rundir import (
    RunFolderError,
    RunLock,
    check_report_folder,
    check_run_folder,
    run_files,
    set_aside_previous_run,
    settle_previous_run,
)
from vlmq.spec import load_spec_file
from vlmq.store import Store, StoreError, prompt_hash, rank_store_path

NOBODY = 65534


@pytest.fixture
def shared_dir():
    """A folder another user can enter (tmp_path's parents are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="vlmq-guard-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` read-only for this process: no write bits, and as root (whom modes do not stop) the
    effective user becomes nobody for the duration."""
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if p.is_dir()}
    for path in modes:
        path.chmod(0o555)
    try:
        if os.geteuid() == 0:
            os.seteuid(NOBODY)
            try:
                yield
            finally:
                os.seteuid(0)
        else:
            yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


def make_run(run_dir: Path, n_samples: int = 2) -> None:
    store = Store(run_dir)
    store.bind_spec({"model": "tiny", "limit": n_samples})
    for k in range(n_samples):
        store.put_sample({"recipe": "bf16", "task": "t", "sample_id": f"s{k}", "prompt_hash": f"h{k}", "output": "yes"})
    store.close()
    (run_dir / "results.jsonl").write_text('{"old": true}\n')
    (run_dir / "report.md").write_text("# old report\n")
    (run_dir / "img").mkdir()
    (run_dir / "img" / "acc.png").write_bytes(b"png")


# ---------------------------------------------------------------------------------------------- prompt hashes


def test_prompt_hash_covers_text_and_every_pixel_and_the_image_shape():
    image = Image.new("RGB", (4, 2), (10, 20, 30))
    base = prompt_hash("Is there a dog?", image)
    assert base == prompt_hash("Is there a dog?", image.copy())
    assert base != prompt_hash("Is there a cat?", image)
    assert base != prompt_hash("Is there a dog?", None)
    changed = image.copy()
    changed.putpixel((3, 1), (10, 20, 31))
    assert base != prompt_hash("Is there a dog?", changed)
    # same bytes, other shape: a transposed image is another question
    assert base != prompt_hash("Is there a dog?", Image.frombytes("RGB", (2, 4), image.tobytes()))


def test_stale_samples_are_the_ones_whose_prompt_changed_or_vanished_and_drop_removes_them(tmp_path):
    store = Store(tmp_path)
    for recipe in ("bf16", "int8_wo"):
        for sid, digest in (("a", "ha"), ("b", "hb"), ("c", "hc")):
            store.put_sample({"recipe": recipe, "task": "pope", "sample_id": sid, "prompt_hash": digest})
    store.put_sample({"recipe": "bf16", "task": "vqa", "sample_id": "a", "prompt_hash": "zz"})
    current = {"a": "ha", "b": "hb-new", "d": "hd"}  # b changed, c gone, d new (not stored: nothing to redo)
    stale = store.stale_samples("pope", current)
    assert stale == {"bf16": ["b", "c"], "int8_wo": ["b", "c"]}
    assert store.stale_samples("pope", {"a": "ha", "b": "hb", "c": "hc"}) == {}
    assert store.drop_samples("pope", stale) == 4
    assert store.done_ids("bf16", "pope") == {"a"} and store.done_ids("int8_wo", "pope") == {"a"}
    assert store.done_ids("bf16", "vqa") == {"a"}  # other tasks untouched


# ---------------------------------------------------------------------------------------------- run identity


def test_identity_change_names_the_model_file_that_differs_and_the_fix(tmp_path):
    identity = {
        "model": "m",
        "model_fingerprint": {"config.json": "1:aa", "model.safetensors": "9:bb"},
        "vlmq_version": "0.1.0",
    }
    store = Store(tmp_path)
    assert store.bind_spec(identity) is False
    store.put_sample({"recipe": "bf16", "task": "t", "sample_id": "s"})
    assert store.bind_spec(dict(identity)) is True
    new_weights = {**identity, "model_fingerprint": {"config.json": "1:aa", "model.safetensors": "9:cc"}}
    with pytest.raises(StoreError) as err:
        store.bind_spec(new_weights)
    text = one_line(err)
    assert "different model (model.safetensors: '9:bb' there, '9:cc' now)" in text
    assert "--fresh" in text and "--out" in text
    with pytest.raises(StoreError, match=r"written by vlmq 0\.1\.0, this is vlmq 0\.2\.0.*--fresh"):
        store.bind_spec({**identity, "vlmq_version": "0.2.0"})
    old = {k: v for k, v in identity.items() if k != "vlmq_version"}
    store.set_meta("spec", old)
    with pytest.raises(StoreError, match="older vlmq that did not record its vlmq_version"):
        store.bind_spec(identity)
    assert isinstance(err.value, RunInputError)  # stops the run, not one recipe


def test_a_folder_with_no_results_yet_takes_the_new_identity(tmp_path):
    """A run that failed before its first result (a mistyped --model) does not bind the folder."""
    store = Store(tmp_path)
    store.bind_spec({"model": "/nope"})
    assert store.bind_spec({"model": "toy"}) is False
    assert store.get_meta("spec") == {"model": "toy"}
    rank_store_path(tmp_path, 1).write_bytes(b"")  # a killed torchrun run's rank file counts as results
    with pytest.raises(StoreError, match="different spec"):
        store.bind_spec({"model": "other"})


# ---------------------------------------------------------------------------------------------- one writer


HOLD_LOCK = """
import sys, time
from vlmq.rundir import RunLock
RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_run_is_refused_with_the_holders_pid_and_a_dead_holder_frees_the_folder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderError) as err:
            RunLock(tmp_path).acquire()
        text = one_line(err)
        assert f"PID {holder.pid}" in text and "in use by another vlmq run" in text and "--out" in text
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunLock(tmp_path) as lock:  # the kernel dropped the dead process's lock
        assert lock.path.exists()
        with pytest.raises(RunFolderError, match=f"PID {os.getpid()}"):
            RunLock(tmp_path).acquire()  # not re-entrant, also within one process
    RunLock(tmp_path).acquire().release()


# ---------------------------------------------------------------------------------------------- --fresh


def test_fresh_sets_the_old_run_aside_and_restores_it_when_the_new_run_stores_nothing(tmp_path):
    make_run(tmp_path)
    rank_store_path(tmp_path, 1).write_bytes(b"")
    before = sorted(p.name for p in run_files(tmp_path))
    aside = set_aside_previous_run(tmp_path)
    assert aside is not None and aside.name.startswith(".") and run_files(tmp_path) == []
    assert sorted(p.name for p in aside.iterdir()) == before
    new = Store(tmp_path)  # the new run binds, records a failure, stores no sample
    new.bind_spec({"model": "other"})
    new.set_outcome("bf16", "failed", reason="boom")
    new.close()
    assert "back in place" in settle_previous_run(tmp_path)
    assert sorted(p.name for p in run_files(tmp_path)) == before and not aside.exists()
    old = Store(tmp_path)
    assert old.count_samples() == 2 and old.get_meta("spec") == {"model": "tiny", "limit": 2}
    assert (tmp_path / "report.md").read_text() == "# old report\n"


def test_fresh_drops_the_old_run_once_the_new_run_has_a_sample(tmp_path):
    make_run(tmp_path)
    aside = set_aside_previous_run(tmp_path)
    new = Store(tmp_path)
    new.bind_spec({"model": "other"})
    new.put_sample({"recipe": "bf16", "task": "t", "sample_id": "n0"})
    new.close()
    assert "deleted" in settle_previous_run(tmp_path)
    assert not aside.exists() and not (tmp_path / "report.md").exists()
    assert Store(tmp_path).count_samples() == 1
    assert settle_previous_run(tmp_path) is None  # nothing left to settle


def test_a_set_aside_killed_halfway_is_undone_by_the_next_settle(tmp_path):
    make_run(tmp_path)
    partial = tmp_path / ".vlmq-previous.partial"
    partial.mkdir()
    (tmp_path / "vlmq.sqlite").rename(partial / "vlmq.sqlite")  # killed after moving one file
    assert "back in place" in settle_previous_run(tmp_path)
    assert not partial.exists() and Store(tmp_path).count_samples() == 2


# ---------------------------------------------------------------------------------------------- one-line errors


def test_garbage_store_is_a_one_line_error_before_and_when_opened(tmp_path):
    (tmp_path / "vlmq.sqlite").write_bytes(b"these are not the results you are looking for\n" * 50)
    with pytest.raises(RunFolderError) as err:
        check_run_folder(tmp_path)
    assert "not a vlmq results store" in one_line(err) and "--fresh" in str(err.value)
    check_run_folder(tmp_path, fresh=True)  # --fresh moves it aside: fine
    with pytest.raises(StoreError) as err:
        Store(tmp_path)
    assert "not a vlmq results store" in one_line(err)
    with pytest.raises(StoreError, match="not a vlmq results store"):
        Store(tmp_path, read_only=True)


def test_busy_database_is_a_one_line_error(tmp_path):
    Store(tmp_path).close()
    other = sqlite3.connect(tmp_path / "vlmq.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        store = Store(tmp_path, busy_timeout_s=0.05)
        with pytest.raises(StoreError) as err:
            store.put_sample({"recipe": "bf16", "task": "t", "sample_id": "s"})
        assert "locked by another program" in one_line(err) and "kept" in str(err.value)
        with pytest.raises(StoreError, match="locked"):
            store.put_measurements("bf16", [{"task": "speed", "metric": "ttft_ms", "value": 1.0}])
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.put_sample({"recipe": "bf16", "task": "t", "sample_id": "s"})
    assert store.count_samples() == 1


def test_read_only_out_is_refused_in_one_line_for_a_new_subfolder_the_folder_and_an_existing_run(shared_dir):
    run = shared_dir / "run"
    make_run(run)
    with read_only(shared_dir):
        with pytest.raises(RunFolderError) as err:
            check_run_folder(shared_dir / "new" / "sub")
        assert "cannot create the run folder" in one_line(err) and "--out" in str(err.value)
        with pytest.raises(StoreError, match="cannot create the run folder"):
            Store(shared_dir / "new")
        with pytest.raises(RunFolderError, match="is not writable"):
            check_run_folder(shared_dir)
        with pytest.raises(RunFolderError, match="is not writable"):
            check_run_folder(run)
        with pytest.raises(RunFolderError, match="is not writable"):
            check_run_folder(run, fresh=True)
        with pytest.raises(RunFolderError, match="cannot lock the run folder"):
            RunLock(run).acquire()
        with pytest.raises(StoreError) as err:
            Store(run).put_sample({"recipe": "bf16", "task": "t", "sample_id": "x"})
        assert "read-only" in one_line(err)


def test_a_read_only_run_can_be_read_and_the_report_says_how_to_write_it(shared_dir):
    run = shared_dir / "run"
    make_run(run, n_samples=3)
    with read_only(shared_dir):
        store = Store(run, read_only=True)
        try:
            assert store.count_samples() == 3 and store.get_meta("spec") == {"model": "tiny", "limit": 3}
            with pytest.raises(StoreError, match="opened read-only"):
                store.put_sample({"recipe": "bf16", "task": "t", "sample_id": "x"})
        finally:
            store.close()
        with pytest.raises(RunFolderError) as err:
            check_report_folder(run)
        assert "cp -r" in one_line(err) and "vlmq report" in str(err.value)
    assert sorted(p.name for p in run.iterdir()) == sorted(["vlmq.sqlite", "results.jsonl", "report.md", "img"])


def test_read_only_store_sees_samples_still_in_the_write_ahead_log(shared_dir):
    run = shared_dir / "run"
    writer = Store(run)  # stays open: its samples live in vlmq.sqlite-wal, not yet checkpointed
    writer.put_sample({"recipe": "bf16", "task": "t", "sample_id": "s"})
    try:
        with read_only(shared_dir):
            reader = Store(run, read_only=True)
            assert reader.count_samples() == 1
            reader.close()
    finally:
        writer.close()


def test_missing_store_for_read_only_open_names_the_fix(tmp_path):
    with pytest.raises(VlmqError, match="not a vlmq run directory"):
        Store(tmp_path, read_only=True)


def test_spec_pointing_at_a_folder_says_so(tmp_path):
    (tmp_path / "study.toml").write_text('model = "tiny"\n')
    with pytest.raises(VlmqError) as err:
        load_spec_file(str(tmp_path))
    assert "is a folder" in one_line(err) and "study.toml" in str(err.value)
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(VlmqError, match="not a text file"):
        load_spec_file(str(tmp_path / "binary.toml"))
