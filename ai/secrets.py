"""Secrets stored in the database (a tenant's AI provider API key), encrypted with Fernet.

The key comes from `settings.HEARTH_ENCRYPTION_KEY` (required in production). Any string works:
each comma-separated entry is hashed into a Fernet key, the first encrypts and all decrypt, so an
operator rotates by putting the new key first and re-saving the settings. A plaintext never
leaves this module except to the provider that sends it; errors never include it.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored token was made with a key that is no longer configured."""


def _fernet() -> MultiFernet:
    keys = [key.strip() for key in settings.HEARTH_ENCRYPTION_KEY.split(",") if key.strip()]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())) for key in keys])


def secret_encrypt(*, plaintext: str) -> bytes:
    return _fernet().encrypt(plaintext.encode()) if plaintext else b""


def secret_decrypt(*, token: bytes | memoryview) -> str:
    token = bytes(token)
    if not token:
        return ""
    try:
        return _fernet().decrypt(token).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "the stored API key cannot be decrypted with HEARTH_ENCRYPTION_KEY (was the key changed?); set the key again"
        ) from None
