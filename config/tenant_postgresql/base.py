"""django-tenants' database backend, without a `SET search_path` round trip per request when
the server already has the tenant's path.

django-tenants (with TENANT_LIMIT_SET_CALLS) sends `SET search_path` once per request: each
request starts by choosing its tenant (`set_tenant`), which forgets what the connection had.
On a kept connection the next request of the same tenant would send the same SET again.

Remembering the path across requests on our side would be wrong whenever something else
changes it: a raw `SET` anywhere, `set_config()`, `RESET`, a rollback or a savepoint rollback
that undoes a SET, a reconnect. So this backend trusts no memory of its own: since
PostgreSQL 18 the server reports `search_path` to the client (a ParameterStatus message with
the result of every statement that changes it, undoing included), and psycopg keeps the last
report (`connection.info.parameter_status`). The SET is skipped only when that report is, to
the byte, the one the server sent right after this backend's own SET of the same schemas.
A server that does not report the path (before 18, or a pooler that hides it) gets the SET
every request, as before.
"""

from __future__ import annotations

from django_tenants.postgresql_backend.base import *  # noqa: F403  (the backend module's names)
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantsDatabaseWrapper
from django_tenants.utils import get_limit_set_calls


class DatabaseWrapper(TenantsDatabaseWrapper):
    def __init__(self, *args, **kwargs):
        # (schemas, the server's report right after our SET of them), or None.
        self._search_path_reported_after_set: tuple[list[str], str] | None = None
        super().__init__(*args, **kwargs)

    def _server_search_path(self) -> str | None:
        info = getattr(self.connection, "info", None)
        return None if info is None else info.parameter_status("search_path")

    def _handle_search_path(self, cursor=None):
        if self._setting_search_path or (get_limit_set_calls() and self.search_path_set_schemas) or not self.schema_name:
            return super()._handle_search_path(cursor)  # nothing to send, or django-tenants' error
        reported = self._server_search_path()
        remembered = self._search_path_reported_after_set
        if reported is not None and remembered is not None and remembered[1] == reported:
            wanted = self._get_cursor_search_paths()
            if remembered[0] == wanted:
                self.search_path_set_schemas = wanted
                return
        super()._handle_search_path(cursor)
        if self.search_path_set_schemas is not None:
            reported = self._server_search_path()
            self._search_path_reported_after_set = None if reported is None else (list(self.search_path_set_schemas), reported)

    def close(self):
        self._search_path_reported_after_set = None
        super().close()
