"""A fresh web process's very first request may be a bad one: it is refused with a 4xx in the
API's error shape, never a 500 from modules loading in an unusual order."""

import json
import os
import subprocess
import sys

from config.embedded import REPO_DIR

FIRST_REQUEST = (
    "import django; django.setup(); from django.test import Client; "
    "response = Client(raise_request_exception=False).get('/api/widget/v1/conversations', HTTP_HOST='unknown.example'); "
    "print(response.status_code); print(response.content.decode())"
)


def test_a_fresh_process_refuses_an_unknown_host_on_its_first_request_with_a_400():
    env = {**os.environ, "HEARTH_DEV": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run([sys.executable, "-c", FIRST_REQUEST], cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-2:]
    assert status == "400"
    assert json.loads(body)["error"]["fields"] == {"Host_header": ["the Host header names no site served here"]}


def test_the_api_module_loads_first_in_a_fresh_process():
    # `manage.py check` looks up CSRF_FAILURE_VIEW (config.api.csrf_failure) before anything
    # has loaded DRF's views; config.api must not depend on being imported second.
    code = "import django; django.setup(); import config.api; print(config.api.csrf_failure.__name__)"
    env = {**os.environ, "HEARTH_DEV": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "csrf_failure"
