"""What every SQLite file of promptops needs when several processes open it at once."""

from __future__ import annotations

import sqlite3
import time

RETRY_S = 0.05


def enable_wal(db: sqlite3.Connection, timeout_s: float) -> None:
    """Switch a connection to WAL, waiting while another process holds a fresh file's lock.

    SQLite answers "database is locked" at once here, without applying busy_timeout, when another connection
    is creating the same new file: two syncs started together would otherwise fail one time in five.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")  # readers never block the writer, nor it them
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(RETRY_S)
