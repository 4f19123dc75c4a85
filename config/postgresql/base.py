"""Django's PostgreSQL backend, with a health check that costs no round trip.

`CONN_HEALTH_CHECKS` makes Django test a kept connection at the start of each request; its
test is a `SELECT 1`, a round trip to the server on every request (the widget's poll answers
in a few milliseconds, so this is a visible share of it). A connection the server has ended
(a restart, `pg_terminate_backend`, an idle timeout, a crash: the kernel closes the socket)
has something waiting on its socket while Django is not using it: the server's goodbye
message or the end of the stream. A healthy idle connection has nothing to say. So: nothing
readable means usable, with no round trip; anything readable means ask the server, as
Django does (a notice would pass, a dead connection fails and is replaced).

What it cannot see, as `SELECT 1` would after its timeout, is a server that vanished without
closing anything (a cut cable); the request's query then fails as it would have anyway.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql.base import *  # noqa: F403  (the backend module's names)
from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    def is_usable(self):
        if self.connection is None or self.connection.closed:
            return False
        try:
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        if not readable:
            return True
        return super().is_usable()
