"""SQLite storage (aiosqlite, WAL mode) with numbered schema migrations.

Holds users (Telegram user id, locale, first and last seen, UTC) and anonymous usage counts
per UTC day (article views; searches and which article answered, or none). No message text
from users is ever stored. Also: people's country subscriptions, and broadcasts (the
administrator's texts) with their outbox, one row per recipient (see :mod:`bot.broadcast`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aiosqlite

log = logging.getLogger(__name__)

#: How often the bot writes the anonymous usage counts kept in memory (seconds).
COUNTS_FLUSH_SECONDS = 10.0

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
    # 2: subscriptions and broadcasts (see bot/broadcast.py). Times: created is ISO 8601
    # UTC text; next_try_at and sent_at are Unix time in seconds (UTC, REAL).
    """
    CREATE TABLE subscriptions (
        telegram_id INTEGER NOT NULL,
        country     TEXT NOT NULL,
        created     TEXT NOT NULL,
        PRIMARY KEY (telegram_id, country)
    );
    CREATE INDEX subscriptions_country ON subscriptions (country);
    CREATE TABLE broadcasts (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        created    TEXT NOT NULL,
        admin_id   INTEGER NOT NULL,
        countries  TEXT NOT NULL,
        texts_json TEXT NOT NULL,
        status     TEXT NOT NULL DEFAULT 'sending'
    );
    CREATE TABLE broadcast_outbox (
        broadcast_id INTEGER NOT NULL REFERENCES broadcasts (id),
        telegram_id  INTEGER NOT NULL,
        locale       TEXT NOT NULL,
        state        TEXT NOT NULL DEFAULT 'pending',
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_try_at  REAL NOT NULL DEFAULT 0,
        sent_at      REAL,
        UNIQUE (broadcast_id, telegram_id)
    );
    CREATE INDEX broadcast_outbox_due ON broadcast_outbox (state, next_try_at);
    CREATE INDEX broadcast_outbox_queue ON broadcast_outbox (state, broadcast_id, telegram_id);
    """,
    # 3: guided dialogs (see bot/handlers/dialogs.py). ``state`` is the dialog's answers as
    # JSON encrypted with bot/crypto.py; ``active`` is 1 for the dialog the person is in
    # (at most one), 0 for a finished one kept for follow-ups (reminders, referrals).
    """
    CREATE TABLE dialog_states (
        telegram_id INTEGER NOT NULL,
        name        TEXT NOT NULL,
        state       BLOB NOT NULL,
        active      INTEGER NOT NULL,
        updated     TEXT NOT NULL,
        PRIMARY KEY (telegram_id, name)
    );
    CREATE INDEX dialog_states_active ON dialog_states (telegram_id, active);
    """,
    # 4: reminders (bot/reminders.py). Everything about the reminder (when it fires, the
    # ban's end date, the locale) is in ``sealed`` (a Fernet token, bot/crypto.py), so the
    # database does not show who has a ban ending when. ``created`` is ISO 8601 UTC text;
    # ``sent_at`` is Unix seconds (UTC, REAL), NULL until the reminder went out.
    """
    CREATE TABLE IF NOT EXISTS reminders (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        telegram_id INTEGER NOT NULL,
        sealed      BLOB NOT NULL,
        created     TEXT NOT NULL,
        sent_at     REAL
    );
    CREATE INDEX IF NOT EXISTS reminders_person ON reminders (telegram_id, sent_at);
    """,
    # 5: consent-based referrals (bot/cases.py, bot/delivery.py). Personal data lives only in
    # the ``sealed`` columns (Fernet tokens, bot/crypto.py); ``person`` is a keyed hash of
    # the person's Telegram id (Cipher.pseudonym), so /delete finds their rows although the
    # id is not stored readable. ``*_at`` columns are ISO 8601 UTC text; ``next_try_at`` and
    # ``sent_ts`` are Unix seconds (UTC, REAL). Need codes, urgency, country (ISO code) and
    # ISO week stay readable: the anonymous export counts them.
    """
    CREATE TABLE consents (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        person          TEXT,
        organisation_id TEXT NOT NULL,
        version         TEXT NOT NULL,
        scope           TEXT NOT NULL,
        given_at        TEXT NOT NULL,
        withdrawn_at    TEXT
    );
    CREATE INDEX consents_person ON consents (person);
    CREATE TABLE cases (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        person          TEXT,
        consent_id      INTEGER NOT NULL REFERENCES consents (id),
        organisation_id TEXT NOT NULL,
        locale          TEXT NOT NULL,
        urgency         TEXT NOT NULL,
        needs           TEXT NOT NULL,
        country         TEXT,
        week            TEXT NOT NULL,
        sealed          BLOB,
        state           TEXT NOT NULL DEFAULT 'open',
        claimed_by      INTEGER,
        claimed_org     TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        escalated_at    TEXT,
        anonymised_at   TEXT
    );
    CREATE INDEX cases_person ON cases (person);
    CREATE INDEX cases_state ON cases (state, urgency, created_at);
    CREATE INDEX cases_claimed ON cases (claimed_by, state);
    CREATE TABLE case_events (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id         INTEGER NOT NULL REFERENCES cases (id),
        at              TEXT NOT NULL,
        event           TEXT NOT NULL,
        actor_kind      TEXT NOT NULL,
        actor_id        INTEGER,
        organisation_id TEXT
    );
    CREATE INDEX case_events_case ON case_events (case_id, id);
    CREATE TABLE referral_outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id         INTEGER NOT NULL REFERENCES cases (id),
        kind            TEXT NOT NULL,
        target          TEXT NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending',
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_try_at     REAL NOT NULL DEFAULT 0,
        in_doubt        INTEGER NOT NULL DEFAULT 0,
        created_at      TEXT NOT NULL,
        sent_ts         REAL,
        chat_id         INTEGER,
        message_id      INTEGER,
        UNIQUE (case_id, kind, target)
    );
    CREATE INDEX referral_outbox_due ON referral_outbox (state, next_try_at);
    """,
)

#: Usage-count kinds.
ARTICLE_VIEW = "article_view"
SEARCH_ANSWERED = "search_answered"  # key: the article id that answered
SEARCH_UNANSWERED = "search_unanswered"  # key: "<reason>:<nearest topic>:<language>"

#: States of a broadcast_outbox row. ``pending``: to send (at or after ``next_try_at``);
#: ``sending``: claimed by a worker, the request may be in flight; ``sent``: Telegram
#: accepted it; ``blocked``: 403, the person blocked the bot (their subscriptions are gone);
#: ``failed``: gave up after the last attempt or a permanent error.
OUTBOX_STATES = ("pending", "sending", "sent", "blocked", "failed")

#: Broadcast statuses: ``sending`` until no outbox row is pending or sending, then ``done``.
BROADCAST_SENDING = "sending"
BROADCAST_DONE = "done"


@dataclass(frozen=True)
class OutboxRow:
    """One message of a broadcast to one person, as claimed by a sending worker."""

    broadcast_id: int
    telegram_id: int
    locale: str
    attempts: int


@dataclass(frozen=True)
class Broadcast:
    """A broadcast: who started it, for which countries, and its text per locale."""

    id: int
    created: str
    admin_id: int
    countries: tuple[str, ...]
    texts: dict[str, str]
    status: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class SchemaTooNewError(ValueError):
    """The database's schema is newer than this code's :data:`MIGRATIONS` (a downgrade):
    opening it could misread or damage data written by the newer version."""


class Storage:
    """The bot's database. Open with ``await Storage.open(path)``; close with ``close()``."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        #: Anonymous counts not yet written, by (UTC day, kind, key); see :meth:`count`.
        self._counts: Counter[tuple[str, str, str]] = Counter()
        # One connection is shared by every coroutine: transactions take turns, or a
        # second BEGIN would fail inside the first.
        self._tx_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Storage:
        """Open (creating if needed) the database at *path* and apply pending migrations.

        ``":memory:"`` gives a private in-memory database (tests, offline chat).

        Raises:
            sqlite3.Error: the file cannot be opened or a migration fails (nothing of that
                migration is applied).
            SchemaTooNewError: the database was written by a newer Safar (more migrations
                than this one knows); it is left untouched.
        """
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        found = int(row[0]) if row else 0
        if found > len(MIGRATIONS):
            await conn.close()
            raise SchemaTooNewError(
                f"the database {path} has schema {found}, newer than this Safar's "
                f"{len(MIGRATIONS)}: run the newer Safar, or restore a backup"
            )
        await conn.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL: a commit survives a crash or kill of the process
        # (tests/test_kill.py); only a power cut or OS crash may undo the last commits.
        # FULL would fsync every commit: about half of Safar's time per update
        # (bench/RESULTS.md).
        await conn.execute("PRAGMA synchronous=NORMAL")
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
        """Write the anonymous counts still in memory (see :meth:`count`), then close the
        connection. If they cannot be written (a full disk), they are dropped with a
        warning and the connection is closed all the same."""
        try:
            await self.flush_counts()
        except sqlite3.Error as exc:
            log.warning("anonymous usage counts not saved at close: %s", type(exc).__name__)
        finally:
            await self._conn.close()

    async def schema_version(self) -> int:
        """Number of migrations applied."""
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @property
    def conn(self) -> aiosqlite.Connection:
        """The connection, for modules that keep their own tables (e.g. :mod:`bot.cases`).

        It runs in autocommit mode: wrap related writes in :meth:`transaction`.
        """
        return self._conn

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """``async with storage.transaction():`` ``BEGIN IMMEDIATE`` ... ``COMMIT``, or
        ``ROLLBACK`` if the body raises. Not re-entrant."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` if the body raises."""
        async with self._tx_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def _migrate(self) -> None:
        version = await self.schema_version()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            statements = [s.strip() for s in script.split(";") if s.strip()]
            async with self._transaction():
                for statement in statements:
                    await self._conn.execute(statement)
                await self._conn.execute(f"PRAGMA user_version = {number}")

    async def _first(self, sql: str, parameters: tuple[object, ...]) -> sqlite3.Row | None:
        """The first row of *sql*, or ``None``: one call to the database thread (a cursor
        with ``fetchone`` and its closing would be three)."""
        rows = list(await self._conn.execute_fetchall(sql, parameters))
        return rows[0] if rows else None

    async def touch_user(self, telegram_id: int) -> str | None:
        """Record that the user was seen now (UTC); return their stored locale or ``None``."""
        now = _now()
        row = await self._first(
            "INSERT INTO users (telegram_id, first_seen, last_seen) VALUES (?, ?, ?) "
            "ON CONFLICT (telegram_id) DO UPDATE SET last_seen = excluded.last_seen "
            "RETURNING locale",
            (telegram_id, now, now),
        )
        return str(row[0]) if row and row[0] else None

    async def get_locale(self, telegram_id: int) -> str | None:
        """The locale the user chose, or ``None`` if they have not chosen yet."""
        row = await self._first("SELECT locale FROM users WHERE telegram_id = ?", (telegram_id,))
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
        """Add one to the anonymous counter (*kind*, *key*) of *day* (default: today, UTC).

        The count is kept in memory and written with the others by :meth:`flush_counts`,
        which the bot calls every :data:`COUNTS_FLUSH_SECONDS` seconds and at :meth:`close`
        (a write per article view or search was a tenth of the bot's time per update). A
        crash or kill of the process therefore loses the anonymous counts of at most the
        last few seconds; nothing about a person is ever kept this way.
        """
        day = day or dt.datetime.now(dt.UTC).date()
        self._counts[(day.isoformat(), kind, key)] += 1

    async def flush_counts(self) -> int:
        """Write the anonymous counts kept in memory in one transaction; return how many
        counters were written (0 if there was nothing to write).

        Raises:
            sqlite3.Error: the write failed (a locked database, a full disk); the counts
                stay in memory for the next try.
        """
        if not self._counts:
            return 0
        pending, self._counts = self._counts, Counter()
        try:
            async with self._transaction():
                await self._conn.executemany(
                    "INSERT INTO usage_counts (day, kind, key, n) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (day, kind, key) DO UPDATE SET n = n + excluded.n",
                    [(day, kind, key, n) for (day, kind, key), n in pending.items()],
                )
        except BaseException:
            self._counts.update(pending)  # with any counted meanwhile
            raise
        return len(pending)

    async def usage(self, kind: str) -> dict[str, int]:
        """Total counts of *kind* by key, over all days (counts still in memory included:
        they are written first).

        Raises:
            sqlite3.Error: the counts in memory could not be written.
        """
        await self.flush_counts()
        async with self._conn.execute(
            "SELECT key, SUM(n) FROM usage_counts WHERE kind = ? GROUP BY key", (kind,)
        ) as cur:
            rows = await cur.fetchall()
        return {str(k): int(n) for k, n in rows}

    # ------------------------------------------------------------ subscriptions

    async def subscriptions(self, telegram_id: int) -> set[str]:
        """The countries (ISO codes such as ``"RU"``) the person is subscribed to."""
        async with self._conn.execute(
            "SELECT country FROM subscriptions WHERE telegram_id = ?", (telegram_id,)
        ) as cur:
            rows = await cur.fetchall()
        return {str(r[0]) for r in rows}

    async def toggle_subscription(self, telegram_id: int, country: str) -> bool:
        """Subscribe the person to *country* if they were not, else unsubscribe them.

        Returns:
            True if they are subscribed now.
        """
        cur = await self._conn.execute(
            "DELETE FROM subscriptions WHERE telegram_id = ? AND country = ?",
            (telegram_id, country),
        )
        if cur.rowcount:
            return False
        await self._conn.execute(
            "INSERT OR IGNORE INTO subscriptions (telegram_id, country, created) VALUES (?, ?, ?)",
            (telegram_id, country, _now()),
        )
        return True

    async def delete_person(self, telegram_id: int) -> None:
        """Erase everything kept about the person (``/delete``): their row in ``users``,
        their subscriptions, their rows in broadcast queues and their dialogs, in one
        transaction.
        Anonymous usage counts hold nothing about anyone and stay."""
        async with self._transaction():
            for table in (
                "users",
                "subscriptions",
                "broadcast_outbox",
                "dialog_states",
                "reminders",
            ):
                await self._conn.execute(
                    f"DELETE FROM {table} WHERE telegram_id = ?", (telegram_id,)
                )

    # ------------------------------------------------------------ reminders

    async def add_reminders(self, telegram_id: int, sealed: Iterable[bytes]) -> list[int]:
        """Store reminders of the person (each *sealed*: an encrypted payload, see
        :mod:`bot.reminders`) in one transaction; return their ids in order."""
        ids = []
        async with self._transaction():
            for token in sealed:
                cur = await self._conn.execute(
                    "INSERT INTO reminders (telegram_id, sealed, created) VALUES (?, ?, ?)",
                    (telegram_id, token, _now()),
                )
                ids.append(int(cur.lastrowid or 0))
        return ids

    async def pending_reminders(
        self, telegram_id: int | None = None
    ) -> list[tuple[int, int, bytes]]:
        """Reminders not yet sent, as (id, telegram_id, sealed), oldest first; of one
        person if *telegram_id* is given."""
        sql = "SELECT id, telegram_id, sealed FROM reminders WHERE sent_at IS NULL"
        args: tuple[int, ...] = ()
        if telegram_id is not None:
            sql += " AND telegram_id = ?"
            args = (telegram_id,)
        async with self._conn.execute(sql + " ORDER BY id", args) as cur:
            rows = await cur.fetchall()
        return [(int(r[0]), int(r[1]), bytes(r[2])) for r in rows]

    async def reminder_sent(self, reminder_id: int, at: float) -> None:
        """Mark reminder *reminder_id* as sent at Unix time *at* (seconds, UTC)."""
        await self._conn.execute("UPDATE reminders SET sent_at = ? WHERE id = ?", (at, reminder_id))

    async def cancel_reminder(self, telegram_id: int, reminder_id: int) -> bool:
        """Delete the person's reminder *reminder_id*; False if there was none."""
        cur = await self._conn.execute(
            "DELETE FROM reminders WHERE id = ? AND telegram_id = ?", (reminder_id, telegram_id)
        )
        return bool(cur.rowcount)

    async def save_dialog(self, telegram_id: int, name: str, state: bytes, active: bool) -> None:
        """Store the person's dialog *name* (*state*: encrypted answers). An active dialog
        erases any other unfinished one of the same person (one dialog at a time), so an
        inactive row is always a finished run."""
        upsert = (
            "INSERT INTO dialog_states (telegram_id, name, state, active, updated) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (telegram_id, name) DO UPDATE SET "
            "state = excluded.state, active = excluded.active, updated = excluded.updated"
        )
        values = (telegram_id, name, state, int(active), _now())
        if not active:  # one statement, atomic by itself; after any open transaction
            async with self._tx_lock:
                await self._conn.execute(upsert, values)
            return
        async with self._transaction():
            # An unfinished other dialog is abandoned: its answers go.
            await self._conn.execute(
                "DELETE FROM dialog_states WHERE telegram_id = ? AND name != ? AND active = 1",
                (telegram_id, name),
            )
            await self._conn.execute(upsert, values)

    async def active_dialog(self, telegram_id: int) -> tuple[str, bytes] | None:
        """The person's active dialog as (name, encrypted state), or ``None``."""
        row = await self._first(
            "SELECT name, state FROM dialog_states WHERE telegram_id = ? AND active = 1",
            (telegram_id,),
        )
        return (str(row[0]), bytes(row[1])) if row else None

    async def dialog_state(self, telegram_id: int, name: str) -> tuple[bytes, bool] | None:
        """The person's stored dialog *name* as (encrypted state, active), or ``None``."""
        row = await self._first(
            "SELECT state, active FROM dialog_states WHERE telegram_id = ? AND name = ?",
            (telegram_id, name),
        )
        return (bytes(row[0]), bool(row[1])) if row else None

    async def end_dialog(self, telegram_id: int, name: str, keep: bool) -> None:
        """End the person's dialog *name*: keep its answers (inactive) or erase them."""
        if keep:
            await self._conn.execute(
                "UPDATE dialog_states SET active = 0 WHERE telegram_id = ? AND name = ?",
                (telegram_id, name),
            )
        else:
            await self._conn.execute(
                "DELETE FROM dialog_states WHERE telegram_id = ? AND name = ?",
                (telegram_id, name),
            )

    async def unsubscribe_all(self, telegram_id: int) -> int:
        """Remove every subscription of the person; return how many there were."""
        cur = await self._conn.execute(
            "DELETE FROM subscriptions WHERE telegram_id = ?", (telegram_id,)
        )
        return max(cur.rowcount, 0)

    async def subscriber_count(self, countries: Iterable[str]) -> int:
        """How many people are subscribed to at least one of *countries*."""
        wanted = sorted(set(countries))
        marks = ",".join("?" * len(wanted))
        async with self._conn.execute(
            f"SELECT COUNT(DISTINCT telegram_id) FROM subscriptions WHERE country IN ({marks})",
            wanted,
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------ broadcasts

    async def create_broadcast(
        self,
        admin_id: int,
        countries: Iterable[str],
        texts: Mapping[str, str],
        default_locale: str,
    ) -> tuple[int, int]:
        """Create a broadcast and enqueue one outbox row per subscriber, in one transaction.

        Everyone subscribed to at least one of *countries* gets one row (never two), with
        their stored locale, or *default_locale* if they have none or one not in *texts*.
        Another coroutine's statement that runs on this connection while the transaction
        is open becomes part of it (it commits with it).

        Returns:
            ``(broadcast id, number of recipients)``.
        """
        wanted = sorted(set(countries))
        marks = ",".join("?" * len(wanted))
        known = sorted(texts)
        known_marks = ",".join("?" * len(known))
        async with self._transaction():
            cur = await self._conn.execute(
                "INSERT INTO broadcasts (created, admin_id, countries, texts_json, status) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    _now(),
                    admin_id,
                    ",".join(wanted),
                    json.dumps(dict(texts), ensure_ascii=False),
                    BROADCAST_SENDING,
                ),
            )
            broadcast_id = cur.lastrowid
            assert broadcast_id is not None
            cur = await self._conn.execute(
                "INSERT INTO broadcast_outbox (broadcast_id, telegram_id, locale) "
                "SELECT ?, s.telegram_id, "
                f"CASE WHEN u.locale IN ({known_marks}) THEN u.locale ELSE ? END "
                "FROM (SELECT DISTINCT telegram_id FROM subscriptions "
                f"WHERE country IN ({marks})) AS s "
                "LEFT JOIN users AS u ON u.telegram_id = s.telegram_id "
                "ORDER BY s.telegram_id",
                (broadcast_id, *known, default_locale, *wanted),
            )
            recipients = max(cur.rowcount, 0)
        return int(broadcast_id), recipients

    async def broadcast(self, broadcast_id: int) -> Broadcast | None:
        """The broadcast with this id, or ``None``."""
        async with self._conn.execute(
            "SELECT id, created, admin_id, countries, texts_json, status FROM broadcasts "
            "WHERE id = ?",
            (broadcast_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        texts = json.loads(row[4])
        return Broadcast(
            id=int(row[0]),
            created=str(row[1]),
            admin_id=int(row[2]),
            countries=tuple(c for c in str(row[3]).split(",") if c),
            texts={str(k): str(v) for k, v in texts.items()},
            status=str(row[5]),
        )

    async def requeue_in_flight(self) -> int:
        """Put rows left in ``sending`` (a crash or kill mid-send) back to ``pending``.

        Call once at start, before any worker runs. Such a row's message may or may not
        have reached Telegram: retrying it can send it twice, which is the one duplicate
        per worker that the at-least-once design accepts. Returns the number of rows.
        """
        cur = await self._conn.execute(
            "UPDATE broadcast_outbox SET state = 'pending' WHERE state = 'sending'"
        )
        return max(cur.rowcount, 0)

    async def claim_outbox_row(self, now: float) -> OutboxRow | None:
        """Atomically mark the next due ``pending`` row ``sending`` and return it.

        *now* is Unix time in seconds (UTC); rows whose ``next_try_at`` is later wait.
        Oldest broadcast first, then by Telegram id. ``None`` if nothing is due. (The
        unary ``+`` keeps SQLite on the ``broadcast_outbox_queue`` index, read in order and
        stopped at the first due row, instead of sorting every pending row.)
        """
        async with self._conn.execute(
            "UPDATE broadcast_outbox SET state = 'sending' WHERE rowid = ("
            "SELECT rowid FROM broadcast_outbox WHERE state = 'pending' AND +next_try_at <= ? "
            "ORDER BY broadcast_id, telegram_id LIMIT 1"
            ") RETURNING broadcast_id, telegram_id, locale, attempts",
            (now,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return OutboxRow(int(row[0]), int(row[1]), str(row[2]), int(row[3]))

    async def next_outbox_due(self) -> float | None:
        """The earliest ``next_try_at`` (Unix seconds, UTC) of a pending row, or ``None``."""
        async with self._conn.execute(
            "SELECT MIN(next_try_at) FROM broadcast_outbox WHERE state = 'pending'"
        ) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row and row[0] is not None else None

    async def mark_sent(self, broadcast_id: int, telegram_id: int, now: float) -> None:
        """Telegram accepted the message (*now*: Unix seconds, UTC)."""
        await self._conn.execute(
            "UPDATE broadcast_outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1 "
            "WHERE broadcast_id = ? AND telegram_id = ?",
            (now, broadcast_id, telegram_id),
        )

    async def mark_blocked(self, broadcast_id: int, telegram_id: int) -> None:
        """The person blocked the bot (403): mark the row and delete their subscriptions."""
        await self._conn.execute("DELETE FROM subscriptions WHERE telegram_id = ?", (telegram_id,))
        await self._conn.execute(
            "UPDATE broadcast_outbox SET state = 'blocked', attempts = attempts + 1 "
            "WHERE broadcast_id = ? AND telegram_id = ?",
            (broadcast_id, telegram_id),
        )

    async def mark_retry(
        self, broadcast_id: int, telegram_id: int, next_try_at: float, count_attempt: bool = True
    ) -> None:
        """Back to ``pending``, to be tried at *next_try_at* (Unix seconds, UTC).

        *count_attempt* is False for a 429 (Telegram's limit, not this message's fault).
        """
        await self._conn.execute(
            "UPDATE broadcast_outbox SET state = 'pending', next_try_at = ?, "
            "attempts = attempts + ? WHERE broadcast_id = ? AND telegram_id = ?",
            (next_try_at, 1 if count_attempt else 0, broadcast_id, telegram_id),
        )

    async def mark_failed(self, broadcast_id: int, telegram_id: int) -> None:
        """Give up on this message (last attempt failed, or a permanent error)."""
        await self._conn.execute(
            "UPDATE broadcast_outbox SET state = 'failed', attempts = attempts + 1 "
            "WHERE broadcast_id = ? AND telegram_id = ?",
            (broadcast_id, telegram_id),
        )

    async def outbox_counts(self, broadcast_id: int) -> dict[str, int]:
        """Rows of the broadcast by state; every state in :data:`OUTBOX_STATES` is present."""
        counts = dict.fromkeys(OUTBOX_STATES, 0)
        async with self._conn.execute(
            "SELECT state, COUNT(*) FROM broadcast_outbox WHERE broadcast_id = ? GROUP BY state",
            (broadcast_id,),
        ) as cur:
            for state, n in await cur.fetchall():
                counts[str(state)] = int(n)
        return counts

    async def finish_broadcast(self, broadcast_id: int) -> bool:
        """Mark the broadcast ``done`` if none of its rows is pending or sending.

        Returns:
            True only for the call that changed it to ``done`` (so one report is sent).
        """
        cur = await self._conn.execute(
            "UPDATE broadcasts SET status = ? WHERE id = ? AND status = ? AND NOT EXISTS ("
            "SELECT 1 FROM broadcast_outbox WHERE broadcast_id = ? "
            "AND state IN ('pending', 'sending'))",
            (BROADCAST_DONE, broadcast_id, BROADCAST_SENDING, broadcast_id),
        )
        return cur.rowcount == 1

    async def unfinished_broadcasts(self) -> list[int]:
        """Ids of broadcasts still ``sending``, oldest first."""
        async with self._conn.execute(
            "SELECT id FROM broadcasts WHERE status = ? ORDER BY id", (BROADCAST_SENDING,)
        ) as cur:
            rows = await cur.fetchall()
        return [int(r[0]) for r in rows]
