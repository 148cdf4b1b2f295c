"""Logs never hold the token, even in a traceback or at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.logs import setup_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "telegram")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def test_token_is_redacted_in_messages_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("DEBUG", [TOKEN])
    log = logging.getLogger("bot.test")
    log.info("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError:
        log.exception("failed")
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert err.count("<redacted>") == 2


def test_library_loggers_are_capped_at_debug() -> None:
    setup_logging("DEBUG", [])
    assert not logging.getLogger("telegram.ext.Application").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("bot.app").isEnabledFor(logging.DEBUG)
