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
