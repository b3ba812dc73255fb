"""The results store: one SQLite file per run directory.

Every per-sample record is committed as soon as it is produced, so a killed run loses at most the
sample in flight; rerunning the same spec into the same directory resumes. Rows are keyed by
(recipe, task, sample_id): a sample is never stored twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from vlmq.errors import VlmqError

STORE_NAME = "vlmq.sqlite"

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

SAMPLE_COLUMNS = ("recipe", "task", "sample_id", "prompt_hash", "output", "parsed", "score", "target", "meta", "timings", "error")
JSON_COLUMNS = {"parsed", "target", "meta", "timings"}


class Store:
    """SQLite store of one run. Writes are committed immediately (autocommit, WAL journal)."""

    def __init__(self, run_dir: str | Path, *, path: str | Path | None = None):
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise VlmqError(f"output directory '{self.run_dir}' is a file; pass --out with a directory path")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = Path(path) if path is not None else self.run_dir / STORE_NAME
        self._also: list[Path] = []
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, sort_keys=True)))

    def bind_spec(self, identity: dict[str, Any], *, fresh: bool = False) -> bool:
        """Record the spec of this run directory, or check that it matches the stored one.

        Returns True when earlier results exist and are resumed.
        """
        if fresh:
            self.clear()
        stored = self.get_meta("spec")
        if stored is None:
            self.set_meta("spec", identity)
            return False
        if stored != identity:
            diffs = [k for k in sorted(set(stored) | set(identity)) if stored.get(k) != identity.get(k)]
            first = diffs[0]
            raise VlmqError(
                f"run directory '{self.run_dir}' holds a different spec ({first}: {stored.get(first)!r} there, "
                f"{identity.get(first)!r} now); rerun with --fresh to start over or choose another --out")
        return True

    def clear(self) -> None:
        for table in ("meta", "samples", "outcomes", "measurements"):
            self.db.execute(f"DELETE FROM {table}")

    # --- samples ------------------------------------------------------------------------------
    def put_sample(self, row: dict[str, Any]) -> None:
        values = [json.dumps(row.get(c)) if c in JSON_COLUMNS else row.get(c) for c in SAMPLE_COLUMNS]
        self.db.execute(
            f"INSERT OR IGNORE INTO samples ({', '.join(SAMPLE_COLUMNS)}, rank, created) "
            f"VALUES ({', '.join('?' * len(SAMPLE_COLUMNS))}, ?, ?)",
            (*values, row.get("rank", 0), time.time()))

    def read_also(self, path: Path) -> None:
        """Count samples stored in another file (the run's main store) as done too."""
        self._also.append(Path(path))

    def done_ids(self, recipe: str, task: str) -> set[str]:
        query = "SELECT sample_id FROM samples WHERE recipe=? AND task=?"
        done = {r[0] for r in self.db.execute(query, (recipe, task))}
        for path in self._also:
            if path.exists():
                other = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
                try:
                    done |= {r[0] for r in other.execute(query, (recipe, task))}
                finally:
                    other.close()
        return done

    def samples(self, recipe: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
        query, args = "SELECT * FROM samples WHERE 1=1", []
        if recipe is not None:
            query, args = query + " AND recipe=?", [*args, recipe]
        if task is not None:
            query, args = query + " AND task=?", [*args, task]
        cursor = self.db.execute(query + " ORDER BY recipe, task, sample_id", args)
        names = [d[0] for d in cursor.description]
        out = []
        for values in cursor:
            row = dict(zip(names, values))
            for c in JSON_COLUMNS:
                row[c] = json.loads(row[c]) if row[c] is not None else None
            out.append(row)
        return out

    def count_samples(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    # --- recipe outcomes ------------------------------------------------------------------------
    def set_outcome(self, recipe: str, status: str, *, reason: str = "", kernel: str = "", details: Any = None) -> None:
        self.db.execute("INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?, ?, ?)",
                        (recipe, status, reason, kernel, json.dumps(details), time.time()))

    def outcomes(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT recipe, status, reason, kernel, details FROM outcomes")
        return {r[0]: {"status": r[1], "reason": r[2], "kernel": r[3], "details": json.loads(r[4]) if r[4] else None}
                for r in rows}

    # --- measured records (speed, diagnosis) ---------------------------------------------------
    def put_measurements(self, recipe: str, records: Iterable[dict[str, Any]]) -> None:
        now = time.time()
        self.db.execute("BEGIN")
        for rec in records:
            key = rec["metric"] if "params" not in rec else f"{rec['metric']}|{json.dumps(rec['params'], sort_keys=True)}"
            self.db.execute("INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?, ?)",
                            (recipe, rec["task"], key, json.dumps(rec), now))
        self.db.execute("COMMIT")

    def measurements(self, recipe: str | None = None, task_prefix: str | None = None) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT recipe, task, record FROM measurements ORDER BY recipe, task, metric")
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
