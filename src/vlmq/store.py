"""The results store: one SQLite file per run directory.

Every per-sample record is committed as soon as it is produced, so a killed run loses at most the
sample in flight; rerunning the same spec into the same directory resumes. Rows are keyed by
(recipe, task, sample_id): a sample is never stored twice.

What a resume checks: the run identity (`bind_spec`: the spec's identity fields, the model fingerprint,
the vlmq version) and, per sample, the prompt it answered (`prompt_hash`, `stale_samples`).
Every SQLite failure (not a database, read-only, locked, disk full) becomes a one-line `StoreError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vlmq.errors import RunInputError, VlmqError

STORE_NAME = "vlmq.sqlite"
RANK_STORE_GLOB = "vlmq.rank*.sqlite"  # torchrun: one file per rank (vlmq.distributed), merged by rank 0
FRESH_HINT = "rerun with --fresh to start over"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    recipe TEXT NOT NULL, task TEXT NOT NULL, sample_id TEXT NOT NULL,
    prompt_hash TEXT, output TEXT, parsed TEXT, score REAL, target TEXT, meta TEXT,
    timings TEXT, error TEXT, rank INTEGER DEFAULT 0, created REAL NOT NULL,
    PRIMARY KEY (recipe, task, sample_id));
CREATE TABLE IF NOT EXISTS outcomes (
    recipe TEXT PRIMARY KEY, status TEXT NOT NULL, reason TEXT, kernel TEXT, details TEXT, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS measurements (
    recipe TEXT NOT NULL, task TEXT NOT NULL, metric TEXT NOT NULL, record TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (recipe, task, metric));
"""

SAMPLE_COLUMNS = (
    "recipe",
    "task",
    "sample_id",
    "prompt_hash",
    "output",
    "parsed",
    "score",
    "target",
    "meta",
    "timings",
    "error",
)
JSON_COLUMNS = {"parsed", "target", "meta", "timings"}
SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(RunInputError):
    """The run's store cannot be used (not a database, read-only, locked, disk full): the run stops."""


def prompt_hash(text: str, image=None) -> str:
    """What a stored answer answered: the prompt text and the image's mode, size and pixels.

    ``image`` is a PIL image or None. A resumed sample whose hash differs answered another question.
    """
    digest = hashlib.sha256(text.encode())
    if image is not None:
        digest.update(f"\0{image.mode}:{image.size[0]}x{image.size[1]}\0".encode())
        digest.update(image.tobytes())
    return digest.hexdigest()[:16]


def rank_store_path(run_dir: str | Path, rank: int) -> Path:
    """The store torchrun rank ``rank`` writes (matches ``RANK_STORE_GLOB``)."""
    return Path(run_dir) / f"vlmq.rank{rank}.sqlite"


def is_sqlite_file(path: str | Path) -> bool:
    """True for an SQLite database (or an empty file, which SQLite turns into one)."""
    with open(path, "rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    return head in (b"", SQLITE_MAGIC)


def store_error(path: Path, err: sqlite3.Error, *, read_only: bool = False) -> StoreError:
    """The one-line error for an SQLite failure on ``path``, naming the fix."""
    text = f"{getattr(err, 'sqlite_errorname', '')} {err}".lower()
    if any(mark in text for mark in ("notadb", "not a database", "corrupt", "malformed")):
        return StoreError(
            f"'{path}' is not a vlmq results store (not an SQLite database, or damaged: {err}); "
            f"move it away, {FRESH_HINT}, or choose another --out"
        )
    if any(mark in text for mark in ("locked", "busy")):
        return StoreError(
            f"'{path}' is locked by another program ({err}); close whatever holds it (another vlmq "
            "run, an sqlite3 shell) and rerun: every stored sample is kept"
        )
    if read_only and "readonly" in text.replace("-", ""):
        return StoreError(
            f"'{path}' was opened read-only and cannot be written; make the run folder writable "
            "or copy it elsewhere (cp -r) and use the copy"
        )
    if any(mark in text.replace("-", "") for mark in ("readonly", "cantopen", "unable to open", "perm")):
        return StoreError(
            f"cannot write '{path}' ({err}): the run folder is read-only; make it writable "
            "(chmod -R u+w) or choose another --out"
        )
    if "full" in text:
        return StoreError(
            f"no space left to write '{path}' ({err}); free disk space and rerun: every stored sample is kept"
        )
    return StoreError(
        f"the results store '{path}' failed ({type(err).__name__}: {err}); rerun, and if it "
        f"persists, {FRESH_HINT} or choose another --out"
    )


class Store:
    """SQLite store of one run. Writes are committed immediately (autocommit, WAL journal).

    ``read_only=True`` opens an existing store for reading without writing anything into the run folder
    (`vlmq report` on a read-only folder): when SQLite cannot read it in place (a WAL database in a
    folder where it may not create its shared-memory file), a private copy is read instead.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        path: str | Path | None = None,
        read_only: bool = False,
        busy_timeout_s: float = 60.0,
    ):
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise VlmqError(f"output directory '{self.run_dir}' is a file; pass --out with a directory path")
        self.path = Path(path) if path is not None else self.run_dir / STORE_NAME
        self.read_only = read_only
        self._also: list[Path] = []
        self._copy_dir: str | None = None
        if read_only:
            self.db = self._connect_read_only(busy_timeout_s)
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(
                f"cannot create the run folder '{self.run_dir}' ({err.strerror}); "
                "choose another --out in a folder you can write"
            ) from None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout_s)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as err:
            raise store_error(self.path, err) from None

    def _connect_read_only(self, busy_timeout_s: float) -> sqlite3.Connection:
        if not self.path.is_file():
            raise VlmqError(
                f"'{self.run_dir}' is not a vlmq run directory (no {self.path.name}); pass the --out of a `vlmq run`"
            )
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, timeout=busy_timeout_s)
            db.execute("SELECT COUNT(*) FROM meta").fetchone()
            return db
        except sqlite3.OperationalError as err:
            if "no such table" in str(err).lower():
                raise store_error(self.path, sqlite3.DatabaseError("file is not a database")) from None
        except sqlite3.Error as err:
            raise store_error(self.path, err) from None
        # SQLite may not create the -shm file next to a WAL database in a read-only folder: read a copy.
        self._copy_dir = tempfile.mkdtemp(prefix="vlmq-ro-")
        copy = Path(self._copy_dir) / STORE_NAME
        for suffix in ("", "-wal"):
            if Path(f"{self.path}{suffix}").is_file():
                shutil.copyfile(f"{self.path}{suffix}", f"{copy}{suffix}")
        try:
            db = sqlite3.connect(copy, isolation_level=None, timeout=busy_timeout_s)
            db.execute("SELECT COUNT(*) FROM meta").fetchone()
            db.execute("PRAGMA query_only=1")
            return db
        except sqlite3.Error as err:
            raise store_error(self.path, err) from None

    def close(self) -> None:
        self.db.close()
        if self._copy_dir is not None:
            shutil.rmtree(self._copy_dir, ignore_errors=True)
            self._copy_dir = None

    def _exec(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        """Run one statement; an SQLite failure becomes a one-line StoreError."""
        try:
            return self.db.execute(sql, tuple(args))
        except sqlite3.Error as err:
            raise store_error(self.path, err, read_only=self.read_only) from None

    # --- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self._exec("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self._exec("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, sort_keys=True)))

    def bind_spec(self, identity: dict[str, Any], *, fresh: bool = False) -> bool:
        """Record the identity of this run directory, or check that it matches the stored one.

        ``identity`` is the spec's identity fields plus ``model_fingerprint`` and ``vlmq_version`` (the
        pipeline adds them). A folder whose store holds no results yet takes the new identity (a run that
        failed before its first result, e.g. on a mistyped --model, does not bind the folder).
        Returns True when earlier results exist and are resumed.
        """
        if fresh:
            self.clear()
        stored = self.get_meta("spec")
        if stored == identity:
            return True
        if stored is not None and self.has_results():
            raise StoreError(identity_change(self.run_dir, stored, identity))
        self.set_meta("spec", identity)
        return False

    def has_results(self) -> bool:
        """Whether anything measured is stored here or in rank files a killed torchrun run left."""
        for table in ("samples", "outcomes", "measurements"):
            if self._exec(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
                return True
        return any(p != self.path for p in self.run_dir.glob(RANK_STORE_GLOB))

    def clear(self) -> None:
        for table in ("meta", "samples", "outcomes", "measurements"):
            self._exec(f"DELETE FROM {table}")

    # --- samples ------------------------------------------------------------------------------
    def put_sample(self, row: dict[str, Any]) -> None:
        values = [json.dumps(row.get(c)) if c in JSON_COLUMNS else row.get(c) for c in SAMPLE_COLUMNS]
        self._exec(
            f"INSERT OR IGNORE INTO samples ({', '.join(SAMPLE_COLUMNS)}, rank, created) "
            f"VALUES ({', '.join('?' * len(SAMPLE_COLUMNS))}, ?, ?)",
            (*values, row.get("rank", 0), time.time()),
        )

    def stale_samples(self, task: str, every_prompt_hash: Mapping[str, str]) -> dict[str, list[str]]:
        """Per recipe, the stored ids of ``task`` that do not answer today's prompts: to be redone.

        ``every_prompt_hash`` maps *every* sample id of the task (the whole task, not a torchrun shard)
        to ``prompt_hash`` of its current prompt. A stored sample is stale when its hash differs, or when
        its id is no longer among the task's samples.

        Why redo rather than refuse: `bind_spec` already refuses a run whose spec, model or vlmq version
        changed, so what is left to differ here is the data itself (a dataset folder edited in place, a
        fixed generator, another image preprocessing). A stale answer belongs to a question nobody asks
        any more: keeping it mixes two datasets silently, refusing throws away every still-valid sample of
        every recipe. Prompts do not depend on the recipe, so the same ids are stale for every recipe and
        the redone samples stay paired across recipes. Call it on the main store, after merging rank
        files, before any recipe runs, then pass the result to `drop_samples`.
        """
        rows = self._exec(
            "SELECT recipe, sample_id, prompt_hash FROM samples WHERE task=? ORDER BY recipe, sample_id", (task,)
        )
        stale: dict[str, list[str]] = {}
        for recipe, sample_id, stored_hash in rows.fetchall():
            if stored_hash is None or every_prompt_hash.get(sample_id) != stored_hash:
                stale.setdefault(recipe, []).append(sample_id)
        return stale

    def drop_samples(self, task: str, ids_by_recipe: Mapping[str, Iterable[str]]) -> int:
        """Delete these samples of ``task`` (all or none); returns how many rows went."""
        pairs = [(recipe, task, sample_id) for recipe, ids in ids_by_recipe.items() for sample_id in ids]
        with self._transaction():
            for pair in pairs:
                self._exec("DELETE FROM samples WHERE recipe=? AND task=? AND sample_id=?", pair)
        return len(pairs)

    def read_also(self, path: Path) -> None:
        """Count samples stored in another file (the run's main store) as done too."""
        self._also.append(Path(path))

    def done_ids(self, recipe: str, task: str) -> set[str]:
        query = "SELECT sample_id FROM samples WHERE recipe=? AND task=?"
        done = {r[0] for r in self._exec(query, (recipe, task))}
        for path in self._also:
            if path.exists():
                try:
                    other = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
                    try:
                        done |= {r[0] for r in other.execute(query, (recipe, task))}
                    finally:
                        other.close()
                except sqlite3.Error as err:
                    raise store_error(path, err) from None
        return done

    def samples(self, recipe: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
        """Stored rows (this file's, then those only the `read_also` files hold), ordered by recipe, task, id."""
        query, args = "SELECT * FROM samples WHERE 1=1", []
        if recipe is not None:
            query, args = query + " AND recipe=?", [*args, recipe]
        if task is not None:
            query, args = query + " AND task=?", [*args, task]
        query += " ORDER BY recipe, task, sample_id"
        rows = {(r["recipe"], r["task"], r["sample_id"]): r for r in _decoded_rows(self._exec(query, args))}
        for path in self._also:
            if path.exists():
                try:
                    other = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
                    try:
                        for row in _decoded_rows(other.execute(query, args)):
                            rows.setdefault((row["recipe"], row["task"], row["sample_id"]), row)
                    finally:
                        other.close()
                except sqlite3.Error as err:
                    raise store_error(path, err) from None
        return [rows[key] for key in sorted(rows)]

    def count_samples(self) -> int:
        return self._exec("SELECT COUNT(*) FROM samples").fetchone()[0]

    # --- recipe outcomes ------------------------------------------------------------------------
    def set_outcome(self, recipe: str, status: str, *, reason: str = "", kernel: str = "", details: Any = None) -> None:
        self._exec(
            "INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?, ?, ?)",
            (recipe, status, reason, kernel, json.dumps(details), time.time()),
        )

    def outcomes(self) -> dict[str, dict[str, Any]]:
        rows = self._exec("SELECT recipe, status, reason, kernel, details FROM outcomes")
        return {
            r[0]: {"status": r[1], "reason": r[2], "kernel": r[3], "details": json.loads(r[4]) if r[4] else None}
            for r in rows
        }

    # --- measured records (speed, diagnosis) ---------------------------------------------------
    def put_measurements(self, recipe: str, records: Iterable[dict[str, Any]]) -> None:
        now = time.time()
        with self._transaction():
            for rec in records:
                params = f"|{json.dumps(rec['params'], sort_keys=True)}" if "params" in rec else ""
                key = f"{rec['metric']}{params}"
                self._exec(
                    "INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?, ?)",
                    (recipe, rec["task"], key, json.dumps(rec), now),
                )

    def measurements(self, recipe: str | None = None, task_prefix: str | None = None) -> list[dict[str, Any]]:
        rows = self._exec("SELECT recipe, task, record FROM measurements ORDER BY recipe, task, metric")
        out = []
        for rec_recipe, task, record in rows:
            if recipe is not None and rec_recipe != recipe:
                continue
            if task_prefix is not None and not task.startswith(task_prefix):
                continue
            out.append({"recipe": rec_recipe, **json.loads(record)})
        return out

    def has_measurements(self, recipe: str, task_prefix: str) -> bool:
        return bool(self.measurements(recipe, task_prefix))

    @contextlib.contextmanager
    def _transaction(self):
        self._exec("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self._exec("COMMIT")


def _decoded_rows(cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    out = []
    for values in cursor:
        row = dict(zip(names, values))
        for c in JSON_COLUMNS:
            row[c] = json.loads(row[c]) if row[c] is not None else None
        out.append(row)
    return out


def identity_change(run_dir: Path, stored: dict[str, Any], current: dict[str, Any]) -> str:
    """One line: what differs between a run folder's stored identity and this run's, and the fix."""
    first = next(k for k in sorted(set(stored) | set(current)) if stored.get(k) != current.get(k))
    there, now = stored.get(first), current.get(first)
    fix = f"{FRESH_HINT} or choose another --out"
    if there is None:
        return f"run directory '{run_dir}' was written by an older vlmq that did not record its {first}; {fix}"
    if first == "vlmq_version":
        return f"run directory '{run_dir}' was written by vlmq {there}, this is vlmq {now}; {fix}"
    if isinstance(there, dict) and isinstance(now, dict):
        part = next(k for k in sorted(set(there) | set(now)) if there.get(k) != now.get(k))
        what = "a different model" if first == "model_fingerprint" else f"a different {first}"
        return (
            f"run directory '{run_dir}' holds results of {what} ({part}: {there.get(part)!r} there, "
            f"{now.get(part)!r} now); {fix}"
        )
    return f"run directory '{run_dir}' holds a different spec ({first}: {there!r} there, {now!r} now); {fix}"
