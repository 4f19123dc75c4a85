"""A paginator for lists that can grow to millions of rows."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows: `SELECT count(*) FROM (... LIMIT 10001)` stops early
    where a full count would read every matching row on every page view. Past the cap the
    list shows "10,000+" (`is_capped`) and pages up to the cap's; nobody pages further than
    that, they filter or search."""

    cap = COUNT_CAP

    @cached_property
    def actual_count_capped(self) -> int:
        rows = self.object_list
        if hasattr(rows, "query"):
            return rows.order_by()[: self.cap + 1].count()
        return min(len(rows), self.cap + 1)

    @cached_property
    def count(self) -> int:
        return min(self.actual_count_capped, self.cap)

    @property
    def is_capped(self) -> bool:
        return self.actual_count_capped > self.cap
