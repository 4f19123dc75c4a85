"""Settings fail closed: production (no HEARTH_DEV) needs its five variables, says which are
missing in one line, never starts an embedded server, and passes `check --deploy` clean.

Each case runs Hearth in a subprocess with a clean environment: nothing is inherited from the
suite, whose bootstrap turns the development switch on.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import database_url_of_test_db

REPO_DIR = Path(__file__).resolve().parents[2]
REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "HEARTH_ENCRYPTION_KEY")


def production_env(data_dir: Path, **overrides: str | None) -> dict[str, str]:
    """The five production variables (unreachable servers: nothing here may connect to them),
    on top of an environment that holds no HEARTH_DEV or other Hearth variable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        # Anything an embedded server wrote would land here, where the test looks for it.
        "HEARTH_DATA_DIR": str(data_dir),
        "SECRET_KEY": secrets.token_urlsafe(60),
        "DATABASE_URL": "postgresql://hearth@db.invalid:5432/hearth",
        "REDIS_URL": "redis://redis.invalid:6379/0",
        "ALLOWED_HOSTS": ".hearth.example.com",
        "HEARTH_ENCRYPTION_KEY": secrets.token_urlsafe(32),
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    assert "HEARTH_DEV" not in env and "HEARTH_TEST_DATABASE_FAST" not in env
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120)


def settings_seen(env: dict[str, str], *names: str) -> dict:
    script = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {list(names)!r}}}))"
    )
    result = run(["-c", script], {**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_passes_without_warnings_and_starts_no_embedded_server(tmp_path):
    result = run(["manage.py", "check", "--deploy"], production_env(tmp_path / "data"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert not (tmp_path / "data" / "postgres").exists()
    assert not (tmp_path / "data" / "redis").exists()


@pytest.mark.parametrize("missing", REQUIRED)
def test_a_missing_production_variable_stops_start_up_with_one_line_naming_it(tmp_path, missing):
    result = run(["manage.py", "check"], production_env(tmp_path / "data", **{missing: None}))

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hearth: cannot start: ")
    assert [name for name in REQUIRED if name in lines[0]] == [missing]
    assert "HEARTH_DEV=1" in lines[0]
    assert not (tmp_path / "data").exists()


def test_every_missing_variable_is_named_in_the_one_line(tmp_path):
    # A blank value is as good as none.
    env = production_env(tmp_path / "data", SECRET_KEY=None, DATABASE_URL=None, REDIS_URL=None, ALLOWED_HOSTS="  ", HEARTH_ENCRYPTION_KEY=None)

    result = run(["manage.py", "check"], env)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "hearth: cannot start: SECRET_KEY, DATABASE_URL, REDIS_URL, ALLOWED_HOSTS, HEARTH_ENCRYPTION_KEY are not set. "
        "Set them (see README 'Configuration'), or set HEARTH_DEV=1 for development."
    ]
    assert not (tmp_path / "data").exists()


def test_gunicorn_refuses_to_start_with_the_same_one_line(tmp_path):
    env = production_env(tmp_path / "data", SECRET_KEY=None)

    result = run(["-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", "127.0.0.1:0"], env)

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("hearth: cannot start: SECRET_KEY is not set.")
    assert "Traceback" not in result.stderr


def test_production_has_debug_off_unless_asked_for(tmp_path):
    assert settings_seen(production_env(tmp_path / "data"), "DEBUG") == {"DEBUG": False}
    assert settings_seen(production_env(tmp_path / "data", DEBUG="true"), "DEBUG") == {"DEBUG": True}


def test_an_invalid_switch_value_is_one_line_too(tmp_path):
    result = run(["manage.py", "check"], production_env(tmp_path / "data", DEBUG="maybe"))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["hearth: cannot start: DEBUG must be true or false, not 'maybe'."]


def test_the_https_redirect_can_be_turned_off_for_other_tls_setups(tmp_path):
    seen = settings_seen(
        production_env(tmp_path / "data", SECURE_SSL_REDIRECT="false", SECURE_PROXY_SSL_HEADER="none"),
        "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE",
    )
    assert seen == {"SECURE_SSL_REDIRECT": False, "SECURE_PROXY_SSL_HEADER": None, "SESSION_COOKIE_SECURE": True}


_HTTP_PROBE = """
import json, django
django.setup()
from django.test import Client
plain, behind_proxy = Client(HTTP_HOST="localhost"), Client(HTTP_HOST="localhost", HTTP_X_FORWARDED_PROTO="https")
login = plain.get("/admin/login/")
health = plain.get("/healthz")
secure_health = behind_proxy.get("/healthz")
print(json.dumps({
    "login": [login.status_code, login.get("Location")],
    "health": health.status_code,
    "secure_health": [secure_health.status_code, secure_health.get("Strict-Transport-Security")],
    "nosniff": secure_health.get("X-Content-Type-Options"),
}))
"""


@pytest.mark.django_db
def test_production_redirects_plain_http_except_healthz_and_sends_hsts_behind_the_proxy(tmp_path):
    env = production_env(
        tmp_path / "data", DATABASE_URL=database_url_of_test_db(), REDIS_URL=settings.REDIS_URL,
        ALLOWED_HOSTS="localhost", DJANGO_SETTINGS_MODULE="config.settings", DB_CONN_MAX_AGE="0",
    )

    result = run(["-c", _HTTP_PROBE], env)

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["login"] == [301, "https://localhost/admin/login/"]
    # Load balancers probe over plain HTTP: an answer (up or down), not a redirect.
    assert seen["health"] in (200, 503)
    assert seen["secure_health"][0] in (200, 503)
    assert seen["secure_health"][1] == "max-age=31536000; includeSubDomains; preload"
    assert seen["nosniff"] == "nosniff"
