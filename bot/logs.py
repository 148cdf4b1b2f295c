"""Logging that never holds a token: one place sets it up for every command.

* Every formatted line (message and traceback) has each secret replaced by ``<redacted>``:
  python-telegram-bot puts the token in Bot API URLs and in ``InvalidToken`` messages.
* Libraries that log request URLs, whole updates (which hold people's messages and
  names) or SQL parameters (Telegram ids) are capped: ``httpx``/``httpcore`` at WARNING,
  ``telegram``/``apscheduler``/``aiosqlite`` at INFO, whatever ``SAFAR_LOG_LEVEL`` says.
  DEBUG applies to Safar's own loggers only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CAPS = {"httpx": logging.WARNING, "httpcore": logging.WARNING,
         "telegram": logging.INFO, "apscheduler": logging.INFO,
         "aiosqlite": logging.INFO}  # fmt: skip


class RedactingFormatter(logging.Formatter):
    """A formatter that replaces every secret in the finished line, traceback included."""

    def __init__(self, secrets: Iterable[str], fmt: str = _FORMAT) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text


def setup_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr at *level*, redacting *secrets*, with noisy libraries capped."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, cap in _CAPS.items():
        logging.getLogger(name).setLevel(max(cap, logging.getLevelName(level)))
