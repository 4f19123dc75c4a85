"""manage.py ai_provider: switch an account to an OpenAI-compatible provider and back without
the admin; the key comes from stdin and is never printed; bad values change nothing."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import tenant_context

from ai.settings_store import ai_settings_api_key, ai_settings_get
from tests.ai.fake_openai import KEY


def run(*args, stdin: str = "", monkeypatch=None) -> str:
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("ai_provider", *args, stdout=out)
    return out.getvalue()


def test_switch_to_openai_with_the_key_on_stdin_then_back_to_local(db, alpha, beta, monkeypatch):
    printed = run(
        "--account", "alpha", "--provider", "openai", "--base-url", "https://llm.example.com/v1", "--chat-model", "gpt-fake",
        "--price", "gpt-fake=0.5,1.5", "--budget", "25", "--api-key-stdin", stdin=KEY + "\n", monkeypatch=monkeypatch,
    )

    assert "provider=openai" in printed and "api_key=set" in printed and KEY not in printed
    with tenant_context(alpha):
        ai_settings = ai_settings_get()
        assert (ai_settings.chat_model, ai_settings.monthly_budget) == ("gpt-fake", Decimal("25"))
        assert ai_settings.prices == {"gpt-fake": {"input": "0.5", "output": "1.5"}}
        assert ai_settings_api_key(ai_settings=ai_settings) == KEY
    with tenant_context(beta):
        assert ai_settings_get().provider == "local"

    assert "provider=local" in run("--account", "alpha", "--provider", "local", "--clear-api-key")
    with tenant_context(alpha):
        assert ai_settings_api_key(ai_settings=ai_settings_get()) == ""


@pytest.mark.parametrize("args, message", [
    (["--provider", "openai", "--base-url", "https://llm.example.com/v1", "--chat-model", "gpt-fake"], "Give the price of"),
    (["--provider", "openai", "--chat-model", "gpt-fake", "--price", "gpt-fake=1,1"], "base_url: Needed"),
    (["--price", "gpt-fake"], "expected MODEL=INPUT,OUTPUT"),
    (["--budget", "lots"], "monthly_budget"),
])
def test_bad_values_are_one_readable_line_and_change_nothing(db, alpha, args, message):
    with pytest.raises(CommandError) as error:
        run("--account", "alpha", *args)

    assert message in str(error.value) and "\n" not in str(error.value)
    with tenant_context(alpha):
        assert ai_settings_get().provider == "local"


def test_an_unknown_account_is_refused(db):
    with pytest.raises(CommandError, match="no account 'nobody'"):
        run("--account", "nobody")
