import pytest
from django_tenants.utils import tenant_context


@pytest.fixture
def tenant_in_zone(db, alpha):
    """Alpha with a time zone chosen by the test; the body runs in alpha's schema."""

    def enter(tz_name: str):
        alpha.timezone = tz_name
        alpha.save(update_fields=["timezone"])
        context = tenant_context(alpha)
        context.__enter__()
        entered.append(context)
        return alpha

    entered = []
    yield enter
    for context in reversed(entered):
        context.__exit__(None, None, None)
