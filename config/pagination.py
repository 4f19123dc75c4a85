"""A paginator for lists that can grow to millions of rows."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Subquery
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

    def page(self, number):
        """A page past the first is found by its ids first (a "deferred join"): the ids of rows
        `bottom` to `top` in the list's order, which an index-only walk of the order's index
        reads without touching the rows it skips, then the page's rows with their joins. The
        plain OFFSET fetched every skipped row and its joined rows (contact, inbox, assignee,
        team) only to drop them: page 50 of the queue read 2,450 of each. Same rows, same order."""
        rows = self.object_list
        if not hasattr(rows, "query") or not rows.ordered:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if bottom == 0:
            return super().page(number)  # the first page's walk stops after its rows anyway
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = rows.prefetch_related(None).values("pk")[bottom:top]
        return self._get_page(rows.filter(pk__in=Subquery(ids)), number, self)
