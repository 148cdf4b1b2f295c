"""SQLite storage (aiosqlite, WAL mode) with numbered schema migrations.

Holds users (Telegram user id, locale, first and last seen, UTC) and anonymous usage counts
per UTC day (article views; searches and which article answered, or none). No message text
is ever stored.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import TracebackType

import aiosqlite

#: Schema migrations, applied in order; the database's ``PRAGMA user_version`` is the
#: number of migrations already applied. Append, never edit, once released.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        telegram_id INTEGER PRIMARY KEY,
        locale      TEXT,
        first_seen  TEXT NOT NULL,
        last_seen   TEXT NOT NULL
    );
    CREATE TABLE usage_counts (
        day   TEXT NOT NULL,
        kind  TEXT NOT NULL,
        key   TEXT NOT NULL,
        n     INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, kind, key)
    );
    """,
)

#: Usage-count kinds.
ARTICLE_VIEW = "article_view"
SEARCH_ANSWERED = "search_answered"  # key: the article id that answered
SEARCH_UNANSWERED = "search_unanswered"  # key: "none"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Storage:
    """The bot's database. Open with ``await Storage.open(path)``; close with ``close()``."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: Path | str) -> Storage:
        """Open (creating if needed) the database at *path* and apply pending migrations.

        ``":memory:"`` gives a private in-memory database (tests, offline chat).

        Raises:
            sqlite3.Error: the file cannot be opened or a migration fails (nothing of that
                migration is applied).
        """
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA foreign_keys=ON")
        storage = cls(conn)
        await storage._migrate()
        return storage

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    async def schema_version(self) -> int:
        """Number of migrations applied."""
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        version = await self.schema_version()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            statements = [s.strip() for s in script.split(";") if s.strip()]
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    await self._conn.execute(statement)
                await self._conn.execute(f"PRAGMA user_version = {number}")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def touch_user(self, telegram_id: int) -> str | None:
        """Record that the user was seen now (UTC); return their stored locale or ``None``."""
        now = _now()
        await self._conn.execute(
            "INSERT INTO users (telegram_id, first_seen, last_seen) VALUES (?, ?, ?) "
            "ON CONFLICT (telegram_id) DO UPDATE SET last_seen = excluded.last_seen",
            (telegram_id, now, now),
        )
        return await self.get_locale(telegram_id)

    async def get_locale(self, telegram_id: int) -> str | None:
        """The locale the user chose, or ``None`` if they have not chosen yet."""
        async with self._conn.execute(
            "SELECT locale FROM users WHERE telegram_id = ?", (telegram_id,)
        ) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row and row[0] else None

    async def set_locale(self, telegram_id: int, locale: str) -> None:
        """Store the user's chosen locale."""
        now = _now()
        await self._conn.execute(
            "INSERT INTO users (telegram_id, locale, first_seen, last_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (telegram_id) DO UPDATE SET locale = excluded.locale, "
            "last_seen = excluded.last_seen",
            (telegram_id, locale, now, now),
        )

    async def count(self, kind: str, key: str, day: dt.date | None = None) -> None:
        """Add one to the anonymous counter (*kind*, *key*) of *day* (default: today, UTC)."""
        day = day or dt.datetime.now(dt.UTC).date()
        await self._conn.execute(
            "INSERT INTO usage_counts (day, kind, key, n) VALUES (?, ?, ?, 1) "
            "ON CONFLICT (day, kind, key) DO UPDATE SET n = n + 1",
            (day.isoformat(), kind, key),
        )

    async def usage(self, kind: str) -> dict[str, int]:
        """Total counts of *kind* by key, over all days."""
        async with self._conn.execute(
            "SELECT key, SUM(n) FROM usage_counts WHERE kind = ? GROUP BY key", (kind,)
        ) as cur:
            rows = await cur.fetchall()
        return {str(k): int(n) for k, n in rows}
