"""An account's data out of Hearth and back in: export to a zip, import into a new account,
delete for good (docs/architecture.md, "Export and import")."""

from accounts.portability.deleting import DeleteSummary, account_delete, tenant_cache_keys_delete
from accounts.portability.exporting import ExportSummary, account_export
from accounts.portability.importing import ImportSummary, account_import

__all__ = [
    "DeleteSummary",
    "ExportSummary",
    "ImportSummary",
    "account_delete",
    "account_export",
    "account_import",
    "tenant_cache_keys_delete",
]
