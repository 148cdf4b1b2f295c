"""Storage: migrations, WAL mode, anonymous counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.storage import ARTICLE_VIEW, MIGRATIONS, Storage


async def test_migrations_apply_once_and_wal_is_on(db_path: Path) -> None:
    async with await Storage.open(db_path) as storage:
        assert await storage.schema_version() == len(MIGRATIONS)
        await storage.set_locale(1, "tg")
    async with await Storage.open(db_path) as storage:  # re-open: nothing re-applied
        assert await storage.schema_version() == len(MIGRATIONS)
        assert await storage.get_locale(1) == "tg"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_user_without_a_choice_has_no_locale(db_path: Path) -> None:
    async with await Storage.open(db_path) as storage:
        assert await storage.touch_user(7) is None
        await storage.set_locale(7, "uz")
        assert await storage.touch_user(7) == "uz"


async def test_usage_counts_add_up(db_path: Path) -> None:
    async with await Storage.open(db_path) as storage:
        for _ in range(3):
            await storage.count(ARTICLE_VIEW, "a")
        await storage.count(ARTICLE_VIEW, "b")
        assert await storage.usage(ARTICLE_VIEW) == {"a": 3, "b": 1}


def _stored_counts(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT key, SUM(n) FROM usage_counts GROUP BY key").fetchall()
    return {str(k): int(n) for k, n in rows}


async def test_usage_counts_are_written_together_and_at_close(db_path: Path) -> None:
    """Counts are kept in memory and written by flush_counts (the bot's job every few
    seconds) and at close: a restart loses none, and they add to what is stored."""
    async with await Storage.open(db_path) as storage:
        await storage.count(ARTICLE_VIEW, "a")
        await storage.count(ARTICLE_VIEW, "a")
        assert await storage.flush_counts() == 1
        assert _stored_counts(db_path) == {"a": 2}
        assert await storage.flush_counts() == 0
        await storage.count(ARTICLE_VIEW, "a")
        await storage.count(ARTICLE_VIEW, "b")
    assert _stored_counts(db_path) == {"a": 3, "b": 1}
    async with await Storage.open(db_path) as storage:
        await storage.count(ARTICLE_VIEW, "b")
        assert await storage.usage(ARTICLE_VIEW) == {"a": 3, "b": 2}


async def test_counts_that_cannot_be_written_are_kept_for_the_next_try(db_path: Path) -> None:
    async with await Storage.open(db_path) as storage:
        await storage._conn.execute("PRAGMA busy_timeout=50")
        await storage.count(ARTICLE_VIEW, "a")
        other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(sqlite3.OperationalError):
                await storage.flush_counts()
            await storage.count(ARTICLE_VIEW, "a")
        finally:
            other.execute("COMMIT")
            other.close()
        assert await storage.flush_counts() == 1
    assert _stored_counts(db_path) == {"a": 2}
