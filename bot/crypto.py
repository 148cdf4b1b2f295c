"""Encryption at rest for personal data (the ``cryptography`` library's Fernet).

Personal data (dialog answers, cases, consents, contact details) is stored only as Fernet
tokens: AES-128-CBC with HMAC-SHA256, authenticated, so a changed or foreign value is
refused rather than misread. The key comes from ``SAFAR_DATA_KEY`` (url-safe base64 of
32 bytes; make one with ``python -m bot keygen``). Offline modes (``chat``, ``replay``,
tests) without a key use a fresh random key per process: their data cannot be read after a
restart, which they do not need. Lose the key and the data is lost: keep it with the
token, not beside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)


class DecryptionError(Exception):
    """A stored value could not be decrypted (another key, or damaged)."""


class Cipher:
    """Encrypts and decrypts values for storage with one Fernet key."""

    def __init__(self, key: str | bytes | None) -> None:
        """*key*: url-safe base64 of 32 bytes; None for a fresh random key (offline modes).

        Raises:
            ValueError: *key* is not a valid Fernet key.
        """
        self.ephemeral = key is None
        raw = key if key is not None else Fernet.generate_key()
        self._fernet = Fernet(raw)
        raw_bytes = raw.encode("ascii") if isinstance(raw, str) else raw
        self._index_key = hmac.new(raw_bytes, b"safar-pseudonym-v1", hashlib.sha256).digest()

    def pseudonym(self, value: str) -> str:
        """A keyed hash of *value* (HMAC-SHA256 under a key derived from the data key), hex.

        The same value always gives the same pseudonym, so stored rows can be found by,
        e.g., a Telegram id without the id being readable in the database; without the
        key it cannot be reversed by trying every id.
        """
        return hmac.new(self._index_key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def encrypt(self, text: str) -> bytes:
        """*text* (UTF-8) as a Fernet token."""
        return self._fernet.encrypt(text.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        """The text of a token from :meth:`encrypt`.

        Raises:
            DecryptionError: the token is damaged or was made with another key.
        """
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except (InvalidToken, TypeError, ValueError):
            raise DecryptionError("cannot decrypt a stored value") from None

    def encrypt_json(self, value: Any) -> bytes:
        """*value* (JSON-serialisable) as a Fernet token."""
        return self.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def decrypt_json(self, token: bytes) -> Any:
        """The value of a token from :meth:`encrypt_json`.

        Raises:
            DecryptionError: see :meth:`decrypt`.
        """
        return json.loads(self.decrypt(token))


def new_key() -> str:
    """A new random key for ``SAFAR_DATA_KEY``."""
    return Fernet.generate_key().decode("ascii")
