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
| SAFAR_ORG_CHATS     | JSON {"org-id": chat_id}: where referral cards go  | {}           |
| SAFAR_CASEWORKERS   | JSON {"org-id": [user ids]}: who may act on cases  | {}           |
| SAFAR_ORG_WEBHOOKS  | JSON {"org-id": {"url": ..., "secret": ...}}: cases | {}           |
|                     | as signed JSON instead of a card                   |              |
| SAFAR_ORG_LOCALES   | JSON {"org-id": "ky"}: language of an org's cards  | ru           |
| SAFAR_FALLBACK_ORG  | org id that gets unclaimed urgent cases            | directory's  |
| SAFAR_ESCALATE_MINUTES | minutes before an unclaimed urgent case escalates | 30         |
| SAFAR_CASE_RETENTION_DAYS | days after which finished cases are anonymised | 90         |
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from knowledge.loader import ARTICLES_DIR

_TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$")


class Webhook(BaseModel):
    """An organisation's case-system endpoint: cases are POSTed there as JSON signed with
    HMAC-SHA256 under *secret* (see :mod:`bot.delivery`)."""

    url: str
    secret: SecretStr

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("webhook url must be an http(s) URL")
        return value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("webhook secret must have at least 16 characters")
        return value


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

    #: Organisation id -> the Telegram chat (group) that receives its referral cards.
    org_chats: dict[str, int] = Field(default_factory=dict, validation_alias="SAFAR_ORG_CHATS")
    #: Organisation id -> Telegram user ids of its caseworkers (the only people who may see
    #: or act on its cases).
    caseworkers: dict[str, list[int]] = Field(
        default_factory=dict, validation_alias="SAFAR_CASEWORKERS"
    )
    #: Organisation id -> its own case system: cases go there as signed JSON instead.
    org_webhooks: dict[str, Webhook] = Field(
        default_factory=dict, validation_alias="SAFAR_ORG_WEBHOOKS"
    )
    #: Organisation id -> the locale its cards are written in (default ``ru``).
    org_locales: dict[str, str] = Field(default_factory=dict, validation_alias="SAFAR_ORG_LOCALES")
    #: The organisation that gets urgent and crisis cases nobody claimed in time (only if
    #: the person's consent covers it; see bot.cases.may_escalate). Default: the service
    #: directory's fallback, which the consent text names.
    fallback_org: str | None = Field(default=None, validation_alias="SAFAR_FALLBACK_ORG")
    #: Minutes an urgent or crisis case may stay unclaimed before it is escalated.
    escalate_minutes: float = Field(default=30.0, gt=0, validation_alias="SAFAR_ESCALATE_MINUTES")
    #: Days after the last change before a closed (or unreachable) case is anonymised.
    case_retention_days: float = Field(
        default=90.0, gt=0, validation_alias="SAFAR_CASE_RETENTION_DAYS"
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

    @field_validator("org_locales")
    @classmethod
    def _check_org_locales(cls, value: dict[str, str]) -> dict[str, str]:
        from knowledge.schema import LOCALES

        bad = sorted(v for v in value.values() if v not in LOCALES)
        if bad:
            raise ValueError(f"unknown locale {bad[0]!r} (use one of {', '.join(LOCALES)})")
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
    "org_webhooks": "SAFAR_ORG_WEBHOOKS",
    "org_locales": "SAFAR_ORG_LOCALES",
    "fallback_org": "SAFAR_FALLBACK_ORG",
    "escalate_minutes": "SAFAR_ESCALATE_MINUTES",
    "case_retention_days": "SAFAR_CASE_RETENTION_DAYS",
}


def load_settings() -> Settings:
    """Read settings from the environment.

    Raises:
        SettingsError: with one line naming the first bad variable and why (no traceback,
            and never the value of the token).
    """
    try:
        return Settings()
    except PydanticSettingsError as exc:  # a JSON setting that does not parse
        found = re.search(r'field "(\w+)"', str(exc))
        name = _ALIASES.get(found.group(1), found.group(1)) if found else "a setting"
        raise SettingsError(f"{name}: is not valid JSON") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = str(err["loc"][0]) if err["loc"] else "?"
        name = _ALIASES.get(loc, loc)
        message = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
