"""Settings: a bad value fails at start-up with one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BOT_TOKEN", "SAFAR_DB", "SAFAR_BOT_API_URL", "SAFAR_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.token is None
    assert settings.db == Path("safar.db")
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOT_TOKEN", "not-a-token-secret123"),
        ("SAFAR_BOT_API_URL", "ftp://example"),
        ("SAFAR_LOG_LEVEL", "LOUD"),
        ("SAFAR_KB_DIR", "/no/such/folder"),
    ],
)
def test_bad_setting_names_the_variable_without_echoing_a_token(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"{name}:")
    assert "\n" not in message
    assert "secret123" not in message


def test_bad_setting_at_start_up_prints_one_line_and_exits_2() -> None:
    env = {**os.environ, "BOT_TOKEN": "12345:short-secret"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "BOT_TOKEN" in proc.stderr and "Traceback" not in proc.stderr
    assert "short-secret" not in proc.stderr


def test_token_is_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "123456789:AAH" + "x" * 32
    monkeypatch.setenv("BOT_TOKEN", token)
    settings = load_settings()
    assert settings.token == token
    assert token not in repr(settings) and token not in str(settings.model_dump())


def test_database_in_a_missing_folder_is_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFAR_DB", "/no/such/folder/safar.db")
    with pytest.raises(SettingsError, match=r"^SAFAR_DB: folder /no/such/folder does not exist"):
        load_settings()
