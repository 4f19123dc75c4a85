"""`make run`'s web process is gunicorn with the repository's configuration, and under the
development switch it serves the apps' static files itself (WhiteNoise's finders)."""

from __future__ import annotations

import sys
import urllib.request

from tests.conftest import _answers, _free_port, _stack_process


def test_gunicorn_with_the_repo_config_serves_the_desk_and_development_static_files(django_db_setup, tmp_path, monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    port = _free_port()
    root = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]

    with _stack_process("gunicorn", command, tmp_path, lambda: _answers(f"{root}/t/alpha/admin/login/")):
        with urllib.request.urlopen(f"{root}/t/alpha/admin/login/", timeout=10) as login:
            assert login.status == 200
            assert b'href="/static/admin/css/base.css"' in login.read()
        # Not collected (no collectstatic in development): found in the admin app by WhiteNoise.
        with urllib.request.urlopen(f"{root}/static/admin/css/base.css", timeout=10) as css:
            assert css.status == 200
            assert css.headers["Content-Type"].startswith("text/css")
    assert "Reloader is on" in (tmp_path / "gunicorn.log").read_text()
