import pytest
from django_tenants.utils import tenant_context

from accounts.models import Membership
from conversations import services
from tests.accounts.factories import MembershipFactory
from tests.conversations.factories import ContactFactory, InboxFactory


@pytest.fixture
def in_alpha(db, alpha):
    """The test body runs in alpha's schema, as a request or task of alpha would."""
    with tenant_context(alpha):
        yield alpha


@pytest.fixture
def make_member(alpha):
    def make(role=Membership.Role.AGENT, availability=Membership.Availability.ONLINE, account=None, **kwargs):
        return MembershipFactory(account=account or alpha, role=role, availability=availability, **kwargs).user

    return make


@pytest.fixture
def open_conversation():
    def open_(inbox=None, contact=None, content="Help, my order is late", **kwargs):
        return services.conversation_open(
            inbox=inbox or InboxFactory(auto_assign=False), contact=contact or ContactFactory(), content=content, **kwargs
        )

    return open_
