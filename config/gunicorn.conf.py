"""gunicorn's configuration for Hearth's web process, in production and under `make run`.

    gunicorn -c config/gunicorn.conf.py            # serves config.wsgi:application

Command-line flags win over this file (`make run` passes `--bind`). Environment:
- `WEB_CONCURRENCY`: worker processes (default one per CPU core; 2 with HEARTH_DEV=1).
- `WEB_THREADS`: threads per worker process (default 4).
- `GUNICORN_BIND` (or `PORT`): where to listen (default 0.0.0.0:$PORT, else 127.0.0.1:8000).
- `GUNICORN_TIMEOUT`, `GUNICORN_GRACEFUL_TIMEOUT`: seconds (default 30 and 30).
"""

import os

wsgi_app = "config.wsgi:application"

_development = os.environ.get("HEARTH_DEV", "").strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value.isascii() or not value.isdigit():
        return default
    return int(value)


bind = [os.environ.get("GUNICORN_BIND") or (f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000")]
# Threaded workers, one process per core with WEB_THREADS threads each: measured on 2 cores
# with 32 widget clients (bench/widget_api.py, docs/performance.md), 2 x 4 threads served about
# 1.8 to 2.3 times the widget requests of 5 sync workers. A request spends part of its time waiting on
# PostgreSQL and Redis, which threads overlap, and gthread keeps HTTP connections alive
# (sync workers close each one), so a polling widget does not reconnect for every request.
# Re-measured 2026-12-03 (branch redis8, docs/performance.md): 2 x 4 served 309 POST and 502
# poll req/s (x0.37 and x0.60 of the bare insert on the same shape), ahead of 4 x 2 (283, 421),
# 3 x 2 (275, 385) and 2 x 2 (222, 361) in req/s, ratio and p95 alike: the default stays.
worker_class = "gthread"
workers = _env_int("WEB_CONCURRENCY", 2 if _development else (os.cpu_count() or 1))
threads = _env_int("WEB_THREADS", 4)
timeout = _env_int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (a deploy, Ctrl-C in `make run`) requests in flight get this long to finish.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Access and error log to stdout/stderr: the process manager or platform collects them.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# gunicorn 27's control socket sits at one path per user ($HOME/.gunicorn/gunicorn.ctl), so two
# checkouts or a benchmark next to `make run` would take it from each other; nothing uses it.
control_socket_disable = True
# Development restarts workers when a Python file changes, as runserver did.
reload = _development


def on_starting(server):
    # Settings are read once in the master before any worker forks: a missing SECRET_KEY,
    # DATABASE_URL, REDIS_URL or ALLOWED_HOSTS stops gunicorn with config.settings' one line,
    # instead of every worker dying at boot and being respawned in a loop.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import config.settings  # noqa: F401
