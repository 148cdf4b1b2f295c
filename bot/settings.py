"""Settings from the environment, validated by pydantic-settings.

| variable            | meaning                                            | default      |
|---------------------|----------------------------------------------------|--------------|
| BOT_TOKEN           | the token from @BotFather; none means offline chat | (none)       |
| SAFAR_DB            | path of the SQLite database file                   | ./safar.db   |
| SAFAR_BOT_API_URL   | base URL of the Bot API, e.g. a local server       | Telegram's   |
| SAFAR_LOG_LEVEL     | DEBUG, INFO, WARNING, ERROR                        | INFO         |
| SAFAR_KB_DIR        | folder of the knowledge-base articles              | built in     |
| SAFAR_ADMINS        | Telegram user ids allowed to /broadcast, e.g. 1,2  | (nobody)     |
| SAFAR_DATA_KEY      | key for personal data at rest; required by run     | (none)       |
| SAFAR_ORG_CHATS     | JSON: organisation id -> Telegram chat id that     | {} (nobody)  |
|                     | receives its referrals, e.g. {"org-id": -100123}   |              |
| SAFAR_CASEWORKERS   | JSON: organisation id -> Telegram user ids of its  | {} (nobody)  |
|                     | caseworkers, e.g. {"org-id": [111, 222]}           |              |

Organisation ids are those of ``knowledge/data/services.yaml``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import pydantic_settings
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from knowledge.loader import ARTICLES_DIR

_TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$")


class SettingsError(Exception):
    """A setting is invalid; the message is one line that names the variable."""


class Settings(BaseSettings):
    """Safar's configuration. Secrets are kept as :class:`SecretStr` so they never print."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    bot_token: SecretStr | None = Field(default=None, validation_alias="BOT_TOKEN")
    db: Path = Field(default=Path("./safar.db"), validation_alias="SAFAR_DB")
    bot_api_url: str | None = Field(default=None, validation_alias="SAFAR_BOT_API_URL")
    kb_dir: Path = Field(default=ARTICLES_DIR, validation_alias="SAFAR_KB_DIR")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", validation_alias="SAFAR_LOG_LEVEL"
    )
    #: Telegram user ids of the administrators (may start broadcasts).
    admins: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), validation_alias="SAFAR_ADMINS"
    )

    #: Organisation id -> the Telegram chat that receives its referrals (set at deployment).
    org_chats: dict[str, int] = Field(default_factory=dict, validation_alias="SAFAR_ORG_CHATS")
    #: Organisation id -> Telegram user ids allowed to act on its cases.
    caseworkers: dict[str, frozenset[int]] = Field(
        default_factory=dict, validation_alias="SAFAR_CASEWORKERS"
    )

    #: Fernet key for personal data at rest (see :mod:`bot.crypto`).
    data_key: SecretStr | None = Field(default=None, validation_alias="SAFAR_DATA_KEY")

    @field_validator("data_key", mode="before")
    @classmethod
    def _check_data_key(cls, value: object) -> object:
        if value is None or value == "":
            return None
        from cryptography.fernet import Fernet

        try:
            Fernet(str(value).strip())
        except (ValueError, TypeError):
            raise ValueError("is not a key from `python -m bot keygen`") from None
        return str(value).strip()

    @field_validator("bot_token", mode="before")
    @classmethod
    def _check_token(cls, value: object) -> object:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not _TOKEN_RE.match(value.strip()):
            # Never echo the value: it may be a real secret with a typo.
            raise ValueError("does not look like a bot token (digits:letters, from @BotFather)")
        return value.strip()

    @field_validator("bot_api_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8081")
        return value.rstrip("/")

    @field_validator("db")
    @classmethod
    def _check_db(cls, value: Path) -> Path:
        if str(value) != ":memory:" and not value.resolve().parent.is_dir():
            raise ValueError(f"folder {value.resolve().parent} does not exist")
        return value

    @field_validator("kb_dir")
    @classmethod
    def _check_kb_dir(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not all(re.fullmatch(r"[1-9]\d{0,19}", part) for part in parts):
            raise ValueError("must be Telegram user ids (digits) separated by commas")
        return frozenset(int(part) for part in parts)

    @field_validator("org_chats", "caseworkers")
    @classmethod
    def _check_org_ids(cls, value: dict[str, object]) -> dict[str, object]:
        bad = [key for key in value if not re.fullmatch(r"[a-z0-9-]{2,40}", key)]
        if bad:
            raise ValueError(f"organisation ids must be lower-case letters, digits, '-': {bad}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def token(self) -> str | None:
        """The bot token as plain text, or ``None`` when offline."""
        return self.bot_token.get_secret_value() if self.bot_token else None


_ALIASES = {
    "bot_token": "BOT_TOKEN",
    "db": "SAFAR_DB",
    "bot_api_url": "SAFAR_BOT_API_URL",
    "log_level": "SAFAR_LOG_LEVEL",
    "kb_dir": "SAFAR_KB_DIR",
    "admins": "SAFAR_ADMINS",
    "data_key": "SAFAR_DATA_KEY",
    "org_chats": "SAFAR_ORG_CHATS",
    "caseworkers": "SAFAR_CASEWORKERS",
}


def load_settings() -> Settings:
    """Read settings from the environment.

    Raises:
        SettingsError: with one line naming the first bad variable and why (no traceback,
            and never the value of the token).
    """
    try:
        return Settings()
    except pydantic_settings.SettingsError as exc:  # a JSON setting that is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = _ALIASES.get(found[1], found[1]) if found else "a setting"
        raise SettingsError(f"{name}: is not valid JSON") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = str(err["loc"][0]) if err["loc"] else "?"
        name = _ALIASES.get(loc, loc)
        message = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
