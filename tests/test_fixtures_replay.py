"""Every recorded real-shaped Update is handled without an error; private messages are
answered, channels and service messages are left alone."""

from __future__ import annotations

import json
import logging

import pytest

from bot.updates import upgrade_update
from tests.conftest import FIXTURES, Harness, texts

UPDATES = [
    json.loads(line)
    for line in (FIXTURES / "telegram-updates.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]


@pytest.mark.parametrize("entry", UPDATES, ids=[f"{i}-{u['kind']}" for i, u in enumerate(UPDATES)])
async def test_recorded_update_is_handled_without_error(
    harness: Harness, entry: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    update = upgrade_update(entry["update"])
    with caplog.at_level(logging.WARNING):
        calls = await harness.feed(update)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    message = update.get("message") or update.get("edited_message")
    if isinstance(message, dict) and message["chat"]["type"] == "private":
        service = any(k in message for k in ("new_chat_members", "pinned_message"))
        if not service:
            assert texts(calls), "a private message got no reply"
    if "channel_post" in update or "my_chat_member" in update:
        assert texts(calls) == []
