"""HTML pages of the desk outside the admin."""

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from conversations.models import Inbox


def demo_widget(request):
    """A page with Hearth's demo chat widget on it, as a customer's website would embed it.
    Uses the tenant's first web-widget inbox (or `?inbox=<name>`)."""
    inboxes = Inbox.objects.filter(channel=Inbox.Channel.WEB_WIDGET).order_by("pk")
    name = request.GET.get("inbox")
    inbox = inboxes.filter(name=name).first() if name else inboxes.first()
    if inbox is None:
        raise Http404("This account has no web widget inbox yet.")
    api_base = reverse("widget-sessions").removesuffix("sessions")  # keeps a /t/<slug>/ prefix
    return render(request, "widget/demo.html", {"inbox": inbox, "tenant": request.tenant, "api_base": api_base})
