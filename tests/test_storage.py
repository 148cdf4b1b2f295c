"""Storage: migrations, WAL mode, anonymous counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
