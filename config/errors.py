"""The one error type services raise for a request they refuse (bad input, conflicts).

Views turn it into a 4xx JSON body and commands into one readable line with a non-zero
exit; `code` is stable and machine-readable, `message` is for people, `fields` names the
offending inputs.
"""

from __future__ import annotations


class ApplicationError(Exception):
    def __init__(self, message: str, *, code: str = "invalid", fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.fields = fields or {}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    """The JSON error shape of every API and JSON view: {"error": {"code", "message", "fields"}}.
    Here, not in config.api, so middleware and admin views can use it without importing DRF
    (config.api is named by DRF's settings, and importing it first from a middleware made a
    circular import: a 500 for a fresh process's first bad request)."""
    return {"error": {"code": code, "message": message, "fields": fields or {}}}
