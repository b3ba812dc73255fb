"""The run folder (``--out``): one writer at a time, checked before anything is written, and a ``--fresh``
that loses nothing.

- `check_run_folder`: the pre-flight check (writable, not a file, no foreign ``vlmq.sqlite``), so a bad
  ``--out`` is a one-line error before any model is loaded.
- `RunLock`: an exclusive ``flock`` on ``<out>/.vlmq.lock`` for the run's life. The kernel drops it when
  its process dies, so a killed run never leaves a stale lock; a second run is refused with the holder's
  PID. Taken once, by the single process or torchrun rank 0 (ranks write their own rank stores).
- `set_aside_previous_run` / `settle_previous_run`: ``--fresh`` moves the old run's files into the
  hidden ``<out>/.vlmq-previous`` and brings them back if the new run stores nothing; they are deleted
  once the new run has a result. Every step is a rename, so a kill at any moment is undone by the next
  `settle_previous_run`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import time
from pathlib import Path

from vlmq.errors import VlmqError
from vlmq.store import FRESH_HINT, RANK_STORE_GLOB, STORE_NAME, is_sqlite_file

LOCK_NAME = ".vlmq.lock"
PREVIOUS = ".vlmq-previous"  # the old run, set aside by --fresh
PREVIOUS_PARTIAL = ".vlmq-previous.partial"  # being set aside (a kill here is undone by settle)
PREVIOUS_DROPPED = ".vlmq-previous.drop"  # being deleted
# Everything a run writes into its folder (rank stores are found by RANK_STORE_GLOB).
RUN_FILES = (
    STORE_NAME,
    f"{STORE_NAME}-wal",
    f"{STORE_NAME}-shm",
    "results.jsonl",
    "results.csv",
    "report.md",
    "report.html",
    "img",
    "diagnosis",
    "lmms_eval",
    "export",
)


class RunFolderError(VlmqError):
    """The run folder cannot be used as asked (read-only, in use, holds something else)."""


# ---------------------------------------------------------------------------------------------- pre-flight


def check_run_folder(out: str | Path, *, fresh: bool = False) -> None:
    """Raise a one-line RunFolderError unless a run can write ``out``; writes nothing that stays.

    Checks: ``out`` is (or can become) a folder this process can write; without ``fresh``, every file an
    earlier run left there is writable and its ``vlmq.sqlite`` is an SQLite database (with ``fresh`` they
    are only moved aside, which needs the folder, and the folders among them, to be writable).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"output directory '{out}' is a file; pass --out with a directory path")
    if not out.exists():
        parent = _nearest_existing(out)
        if not parent.is_dir():
            raise RunFolderError(f"cannot create the run folder '{out}': '{parent}' is a file; choose another --out")
        if not _can_create_in(parent):
            raise RunFolderError(
                f"cannot create the run folder '{out}': '{parent}' is not writable; "
                "choose another --out in a folder you can write (e.g. under your home)"
            )
        return
    if not _can_create_in(out):
        raise RunFolderError(
            f"run folder '{out}' is not writable; make it writable (chmod -R u+w '{out}') or choose another --out"
        )
    for path in run_files(out):
        writable = _can_create_in(path) if path.is_dir() else (fresh or _can_write(path))
        if not writable:
            raise RunFolderError(
                f"'{path}' in the run folder is not writable; make it writable "
                f"(chmod -R u+w '{out}') or choose another --out"
            )
    store = out / STORE_NAME
    if not fresh and store.is_file() and not is_sqlite_file(store):
        raise RunFolderError(
            f"'{store}' is not a vlmq results store (not an SQLite database); move it away, "
            f"{FRESH_HINT}, or choose another --out"
        )


def check_report_folder(run_dir: str | Path) -> None:
    """`vlmq report` rewrites results.* and report.md in the run folder: say so when it cannot."""
    try:
        check_run_folder(run_dir)
    except RunFolderError as err:
        raise RunFolderError(
            f"cannot write the report into '{run_dir}' ({err}); the stored results are readable: "
            f"copy the run (cp -r '{run_dir}' NEW_DIR) and run `vlmq report NEW_DIR`"
        ) from None


def run_files(run_dir: str | Path) -> list[Path]:
    """The files and folders an earlier run left in ``run_dir`` (store, rank stores, results, report...)."""
    run_dir = Path(run_dir)
    found = [run_dir / name for name in RUN_FILES if (run_dir / name).exists()]
    ranks = sorted(p for p in run_dir.glob(f"{RANK_STORE_GLOB}*") if p.is_file())
    return found + ranks


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _can_create_in(folder: Path) -> bool:
    """Create and delete a file: the only check that holds for root, ACLs and read-only mounts."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".vlmq-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _can_write(path: Path) -> bool:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- lock


class RunLock:
    """One writer per run folder: ``with RunLock(out): ...`` or ``lock = RunLock(out).acquire()`` ...
    ``lock.release()``. Not re-entrant: a second RunLock on the same folder is refused, also in-process."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise RunFolderError(
                f"cannot lock the run folder '{self.run_dir}' ({err.strerror}); make it writable "
                "or choose another --out"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunFolderError(
                f"run folder '{self.run_dir}' is in use by another vlmq run ({holder}); wait for "
                "it to finish or stop it, or choose another --out"
            ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        # The file stays: deleting it would let a third process lock a new inode while a second one
        # still waits on the old one.
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if "pid" not in info:
        return "PID unknown: it is starting"
    return f"PID {info['pid']} on {info.get('host', '?')}, since {info.get('started', '?')}"


# ---------------------------------------------------------------------------------------------- --fresh


def set_aside_previous_run(run_dir: str | Path) -> Path | None:
    """Move the old run's files into ``<run_dir>/.vlmq-previous``; returns it, or None if there was nothing.

    Call it under the RunLock, after validation passed, in place of deleting anything; then
    `settle_previous_run` when the run ends (and at the start of every run, for a run that was killed).
    """
    run_dir = Path(run_dir)
    settle_previous_run(run_dir)
    files = run_files(run_dir)
    if not files:
        return None
    partial = run_dir / PREVIOUS_PARTIAL
    partial.mkdir()
    for path in files:
        path.rename(partial / path.name)
    aside = run_dir / PREVIOUS
    partial.rename(aside)
    return aside


def settle_previous_run(run_dir: str | Path) -> str | None:
    """Finish what `set_aside_previous_run` started; returns a one-line note of what it did, or None.

    - an interrupted set-aside (``.partial``): its files go back, as if --fresh had not been given;
    - the new run stored a sample or a measurement: the old run is deleted;
    - the new run stored nothing: its files are deleted and the old run's files come back.
    """
    run_dir = Path(run_dir)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(run_dir / PREVIOUS_DROPPED)
    partial, aside = run_dir / PREVIOUS_PARTIAL, run_dir / PREVIOUS
    if partial.is_dir():
        _move_back(partial, run_dir)
        return "an interrupted --fresh left the previous run half set aside; it is back in place"
    if not aside.is_dir():
        return None
    produced = _has_results(run_dir)
    if produced is None:
        return f"could not read the new run's store; the previous run stays in '{aside}'"
    if produced:
        aside.rename(run_dir / PREVIOUS_DROPPED)
        shutil.rmtree(run_dir / PREVIOUS_DROPPED)
        return "the previous run (set aside by --fresh) was deleted: the new run has results"
    for path in run_files(run_dir):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    _move_back(aside, run_dir)
    return "the --fresh run stored nothing, so the previous run's results are back in place"


def _move_back(folder: Path, run_dir: Path) -> None:
    for path in sorted(folder.iterdir()):
        path.rename(run_dir / path.name)
    folder.rmdir()


def _has_results(run_dir: Path) -> bool | None:
    """Whether the run's stores (main and rank files) hold a sample or a measurement; None if unreadable."""
    stores = [p for p in [run_dir / STORE_NAME, *run_dir.glob(RANK_STORE_GLOB)] if p.is_file()]
    for path in stores:
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            try:
                found = any(
                    db.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
                    for table in ("samples", "measurements")
                )
            finally:
                db.close()
        except sqlite3.Error:
            return None
        if found:
            return True
    return False
