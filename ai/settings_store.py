"""The tenant's AI settings row: read it (made on first use) and change its API key.

One row per tenant schema, always pk 1: `get_or_create(pk=1)` cannot make a second row when two
workers ask at once (the primary key decides), unlike "first(), else create()".
"""

from __future__ import annotations

from ai.models import AISettings
from ai.secrets import secret_decrypt, secret_encrypt

SETTINGS_PK = 1


def ai_settings_get() -> AISettings:
    ai_settings, _ = AISettings.objects.get_or_create(pk=SETTINGS_PK)
    return ai_settings


def ai_settings_api_key_set(*, ai_settings: AISettings, api_key: str) -> None:
    """Set, replace ("sk-...") or clear ("") the provider's API key. Saved with the row."""
    ai_settings.api_key_encrypted = secret_encrypt(plaintext=api_key.strip())


def ai_settings_api_key(*, ai_settings: AISettings) -> str:
    """The plaintext key, for the provider only. Raises ai.secrets.SecretUnreadable."""
    return secret_decrypt(token=ai_settings.api_key_encrypted)


def ai_settings_has_api_key(*, ai_settings: AISettings) -> bool:
    return bool(ai_settings.api_key_encrypted)
