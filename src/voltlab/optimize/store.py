"""SQLite persistence of a campaign: one file, WAL journal, one transaction per ask or tell.

Layout (schema version 1)::

    meta(key TEXT PRIMARY KEY, value TEXT)          -- JSON values: space, objectives, settings, seed
    suggestions(id INTEGER PRIMARY KEY,             -- 0, 1, 2, ... in the order asked
                batch INTEGER, point TEXT,          -- JSON point in parameter units
                source TEXT, status TEXT,           -- pending | complete | failed
                outcome TEXT, reason TEXT,          -- JSON outcome values; failure reason
                model_state TEXT,                   -- JSON summary of the model that proposed it
                asked_utc TEXT, told_utc TEXT)

``synchronous=FULL`` makes each committed transaction durable before
``commit`` returns, so a process killed at any instant leaves either the
whole ask/tell or none of it. Values are JSON text, never pickles.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voltlab._files import atomic_write_text
from voltlab.errors import MissingFileError, StoreError

__all__ = ["SCHEMA_VERSION", "CampaignStore", "atomic_write_text", "utc_now"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS suggestions (
    id INTEGER PRIMARY KEY,
    batch INTEGER NOT NULL,
    point TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'complete', 'failed')),
    outcome TEXT,
    reason TEXT,
    model_state TEXT NOT NULL,
    asked_utc TEXT NOT NULL,
    told_utc TEXT
);
CREATE INDEX IF NOT EXISTS suggestions_status ON suggestions (status);
"""


def utc_now() -> str:
    """Current UTC time as ISO 8601 text with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _dumps(value: Any) -> str:
    # allow_nan=False: NaN/inf are rejected before they reach the file (JSON has no such numbers).
    return json.dumps(value, sort_keys=True, allow_nan=False)


class CampaignStore:
    """The SQLite file behind a :class:`~voltlab.optimize.campaign.Campaign`.

    Parameters
    ----------
    path
        The campaign file.
    create
        Create the file (it must not exist) instead of opening an existing one.

    Raises
    ------
    MissingFileError
        Opening a file that does not exist.
    StoreError
        Creating over an existing file, or a file that is not a voltlab campaign.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False) -> None:
        self.path = Path(path)
        if create and self.path.exists():
            raise StoreError("a campaign file already exists here; open it, or pass overwrite=True", path=self.path)
        if not create and not self.path.exists():
            raise MissingFileError("no campaign file here; create one with Campaign.create or 'voltlab campaign new'",
                                   path=self.path)
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            if create:
                self._con.executescript(_SCHEMA)
            elif self.meta().get("format") != "voltlab-campaign":
                raise StoreError("not a voltlab campaign file (no 'format' entry in table meta)", path=self.path)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open as SQLite campaign: {exc}", path=self.path) from exc

    def close(self) -> None:
        """Close the connection (committed data is already on disk)."""
        self._con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception)."""
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    # -------------------------------------------------------------------- meta
    def write_meta(self, con: sqlite3.Connection, items: Mapping[str, Any]) -> None:
        """Insert or replace meta entries (JSON values) inside transaction ``con``."""
        con.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [(k, _dumps(v)) for k, v in items.items()]
        )

    def meta(self) -> dict[str, Any]:
        """All meta entries, JSON-decoded."""
        try:
            rows = self._con.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"not a voltlab campaign file: {exc}", path=self.path) from exc
        return {k: json.loads(v) for k, v in rows}

    # ------------------------------------------------------------- suggestions
    def insert_suggestions(self, con: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
        """Insert new suggestion rows (keys as the table columns; JSON fields as Python objects)."""
        con.executemany(
            "INSERT INTO suggestions (id, batch, point, source, status, outcome, reason, model_state, asked_utc, "
            "told_utc) VALUES (:id, :batch, :point, :source, :status, :outcome, :reason, :model_state, :asked_utc, "
            ":told_utc)",
            [
                {
                    **r,
                    "point": _dumps(r["point"]),
                    "model_state": _dumps(r["model_state"]),
                    "outcome": None if r.get("outcome") is None else _dumps(r["outcome"]),
                    "reason": r.get("reason"),
                    "told_utc": r.get("told_utc"),
                }
                for r in rows
            ],
        )

    def set_result(
        self, con: sqlite3.Connection, sid: int, status: str, outcome: Mapping[str, float] | None, reason: str | None
    ) -> None:
        """Record the result of suggestion ``sid`` inside transaction ``con``."""
        con.execute(
            "UPDATE suggestions SET status = ?, outcome = ?, reason = ?, told_utc = ? WHERE id = ?",
            (status, None if outcome is None else _dumps(dict(outcome)), reason, utc_now(), sid),
        )

    @staticmethod
    def _row(r: tuple[Any, ...]) -> dict[str, Any]:
        return {
            "id": r[0], "batch": r[1], "point": json.loads(r[2]), "source": r[3], "status": r[4],
            "outcome": None if r[5] is None else json.loads(r[5]), "reason": r[6],
            "model_state": json.loads(r[7]), "asked_utc": r[8], "told_utc": r[9],
        }

    def rows(self, con: sqlite3.Connection | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Suggestion rows in id order (optionally one status)."""
        con = con or self._con
        sql = "SELECT id, batch, point, source, status, outcome, reason, model_state, asked_utc, told_utc FROM suggestions"
        args: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        return [self._row(r) for r in con.execute(sql + " ORDER BY id", args).fetchall()]

    def row(self, con: sqlite3.Connection, sid: int) -> dict[str, Any] | None:
        """One suggestion row, or ``None``."""
        r = con.execute(
            "SELECT id, batch, point, source, status, outcome, reason, model_state, asked_utc, told_utc "
            "FROM suggestions WHERE id = ?",
            (sid,),
        ).fetchone()
        return None if r is None else self._row(r)

    def counts(self, con: sqlite3.Connection | None = None) -> dict[str, int]:
        """Number of suggestions per status, plus ``total`` and ``next_batch``."""
        con = con or self._con
        out = {"pending": 0, "complete": 0, "failed": 0}
        for status, n in con.execute("SELECT status, count(*) FROM suggestions GROUP BY status"):
            out[status] = n
        out["total"] = sum(out.values())
        nb = con.execute("SELECT max(batch) FROM suggestions").fetchone()[0]
        out["next_batch"] = 0 if nb is None else int(nb) + 1
        return out

    def integrity_ok(self) -> bool:
        """``PRAGMA integrity_check`` is clean."""
        return self._con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

