"""The database backend (settings ENGINE): django-tenants' backend, plus the search path carried
by the statements themselves behind a transaction-pooling PgBouncer (see base.py)."""
