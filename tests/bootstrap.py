"""Loaded by pytest before Django's settings (`-p tests.bootstrap` in pyproject.toml).

- Plain `pytest` is development (HEARTH_DEV=1: embedded servers, a development key), as under
  `make test`; tests of production behaviour run Hearth in subprocesses with a clean
  environment (tests/config/test_settings.py).
- The suite's database connections skip waiting for WAL flushes at commit
  (HEARTH_TEST_DATABASE_FAST, config/settings.py): test data need not survive a crash.
- The suite's Celery tasks go to a queue of their own, so a `make run` worker of the same
  checkout (same embedded Redis) never takes a test's task and runs it against the wrong
  database.
- Browser tests may use the ORM while Playwright's loop runs (below).
- The embedded servers that were not running before the session are stopped after it, so
  `make test` leaves nothing behind; ones a developer had running stay up.
- Under pytest-xdist (`make test` runs `-n 2`) each worker process is a session of its own
  that sees nothing of the other's: its own test database (pytest-django's `_gw0` suffix, see
  tests/conftest.py), its own Redis database (the queue, the cache, the tenant-cache
  generation and the workers' heartbeats), Celery queue and cache key prefix. Only the
  controller stops the embedded servers, after every worker has finished.
"""

import os
from urllib.parse import urlsplit, urlunsplit

from config.embedded import EmbeddedPostgres, EmbeddedRedis

# "gw0", "gw1", ... in a pytest-xdist worker (set before this plugin loads); absent otherwise.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
# Database 0 stays `make run`'s and a serial run's; database 14 is tests/config/test_publish.py's.
_FIRST_WORKER_REDIS_DB, _LAST_WORKER_REDIS_DB = 1, 13

os.environ.setdefault("HEARTH_DEV", "1")
os.environ.setdefault("HEARTH_TEST_DATABASE_FAST", "1")
os.environ.setdefault("CELERY_QUEUE", "hearth-tests")
# Cache keys of the suite (throttle counters among them) have a prefix of their own, so the
# suite can wipe them between tests without touching a running `make run`'s cache.
os.environ.setdefault("CACHE_KEY_PREFIX", "hearth-tests")
# Playwright's sync API keeps an asyncio loop running in the test thread, which makes Django
# refuse ORM calls there. The tests are single-threaded, so the check guards nothing here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

_started_by_this_session = []
if not XDIST_WORKER:
    if not os.environ.get("DATABASE_URL") and not EmbeddedPostgres().is_running():
        _started_by_this_session.append(EmbeddedPostgres())
    if not os.environ.get("REDIS_URL") and not EmbeddedRedis().is_running():
        _started_by_this_session.append(EmbeddedRedis())
else:
    for name in ("CELERY_QUEUE", "CACHE_KEY_PREFIX"):
        os.environ[name] = f"{os.environ[name]}-{XDIST_WORKER}"
    number = int(XDIST_WORKER.removeprefix("gw"))
    if _FIRST_WORKER_REDIS_DB + number > _LAST_WORKER_REDIS_DB:
        raise RuntimeError(f"at most {_LAST_WORKER_REDIS_DB - _FIRST_WORKER_REDIS_DB + 1} xdist workers (Redis databases)")
    # The worker's own database on the given Redis, or on the embedded one (started here if
    # need be, under its lock): some keys have no prefix (the tenant-cache generation, the
    # workers' heartbeats), so a shared database would let one worker's test see the other's.
    redis_url = urlsplit(os.environ.get("REDIS_URL") or EmbeddedRedis().ensure_running())
    os.environ["REDIS_URL"] = urlunsplit(redis_url._replace(path=f"/{_FIRST_WORKER_REDIS_DB + number}"))


def pytest_unconfigure(config):
    for server in _started_by_this_session:
        server.stop()
