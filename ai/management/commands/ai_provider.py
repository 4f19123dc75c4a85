"""manage.py ai_provider: show or change an account's AI provider without the admin.

    manage.py ai_provider --account acme                       # show (the key only as set / not set)
    printf %s "$OPENAI_API_KEY" | manage.py ai_provider --account acme --provider openai \\
        --base-url https://api.openai.com/v1 --chat-model gpt-4o-mini \\
        --price gpt-4o-mini=0.00015,0.0006 --budget 50 --api-key-stdin
    manage.py ai_provider --account acme --provider local      # back to offline

The key is read from stdin, never from the command line (which `ps` and shell history show).
Every change is checked by the admin's own form (ai.admin.settings.AISettingsForm): one rule.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from django.forms.models import model_to_dict
from django_tenants.utils import tenant_context

from accounts.models import Account
from ai.admin.settings import AISettingsForm
from ai.budget import budget_state
from ai.models import Provider
from ai.settings_store import ai_settings_api_key_set, ai_settings_get, ai_settings_has_api_key


def _price(value: str) -> tuple[str, dict]:
    model, _, prices = value.partition("=")
    per_input, _, per_output = prices.partition(",")
    if not model or not per_input or not per_output:
        raise CommandError(f"--price {value!r}: expected MODEL=INPUT,OUTPUT (per 1,000 tokens), e.g. gpt-4o-mini=0.00015,0.0006")
    return model, {"input": per_input, "output": per_output}


class Command(BaseCommand):
    help = "Show or change an account's AI provider (OpenAI-compatible endpoint or local)."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="Account slug")
        parser.add_argument("--provider", choices=list(Provider.values))
        parser.add_argument("--base-url")
        parser.add_argument("--chat-model")
        parser.add_argument("--embedding-model", help="blank: embeddings stay local")
        parser.add_argument("--price", action="append", default=[], metavar="MODEL=INPUT,OUTPUT", help="price per 1,000 tokens; repeatable")
        parser.add_argument("--budget", help="monthly budget for paid calls (0: no limit)")
        parser.add_argument("--timeout", help="seconds per request")
        key = parser.add_mutually_exclusive_group()
        key.add_argument("--api-key-stdin", action="store_true", help="read the API key from stdin")
        key.add_argument("--clear-api-key", action="store_true")

    def handle(self, *args, account, **options):
        account_row = Account.objects.filter(schema_name=account).exclude(schema_name="public").first()
        if account_row is None:
            raise CommandError(f"no account {account!r}")
        with tenant_context(account_row):
            ai_settings = ai_settings_get()
            changes = {name: options[option] for name, option in [
                ("provider", "provider"), ("base_url", "base_url"), ("chat_model", "chat_model"),
                ("embedding_model", "embedding_model"), ("monthly_budget", "budget"), ("timeout_seconds", "timeout"),
            ] if options[option] is not None}
            prices = dict(ai_settings.prices or {})
            prices.update(_price(value) for value in options["price"])
            if options["price"]:
                changes["prices"] = prices
            key = None
            if options["api_key_stdin"]:
                key = sys.stdin.readline().strip()
                if not key:
                    raise CommandError("no API key on stdin")
            if changes or key is not None or options["clear_api_key"]:
                data = {**model_to_dict(ai_settings, fields=AISettingsForm.Meta.fields), **changes}
                data = {name: ("" if value is None else value) for name, value in data.items()}
                form = AISettingsForm(data=data, instance=ai_settings)
                if not form.is_valid():
                    problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
                    raise CommandError(f"not changed: {problems}")
                ai_settings = form.save(commit=False)
                if key is not None:
                    ai_settings_api_key_set(ai_settings=ai_settings, api_key=key)
                elif options["clear_api_key"]:
                    ai_settings_api_key_set(ai_settings=ai_settings, api_key="")
                ai_settings.save()
            state = budget_state(ai_settings=ai_settings)
            self.stdout.write(
                f"{account_row.schema_name}: provider={ai_settings.provider} base_url={ai_settings.base_url or '-'} "
                f"chat_model={ai_settings.chat_model or '-'} embedding_model={ai_settings.embedding_model or '-'} "
                f"api_key={'set' if ai_settings_has_api_key(ai_settings=ai_settings) else 'not set'} "
                f"budget={ai_settings.monthly_budget} spent_this_month={state.spent:.2f} {ai_settings.currency}"
            )
