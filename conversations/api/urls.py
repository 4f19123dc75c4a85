from django.urls import path, register_converter

from config.api import NumberConverter, SmallIdConverter
from conversations.api import agents, drafts, widget
from kb import api as kb_api

register_converter(NumberConverter, "number")
register_converter(SmallIdConverter, "id")

widget_urlpatterns = [
    path("sessions", widget.SessionCreateApi.as_view(), name="widget-sessions"),
    path("sessions/current", widget.SessionCurrentApi.as_view(), name="widget-session-current"),
    path("config", widget.ConfigApi.as_view(), name="widget-config"),
    path("contact", widget.ContactApi.as_view(), name="widget-contact"),
    path("conversations", widget.ConversationListApi.as_view(), name="widget-conversations"),
    path("conversations/<number:number>/messages", widget.MessageListApi.as_view(), name="widget-messages"),
    path("conversations/<number:number>/csat", widget.CSATCreateApi.as_view(), name="widget-csat"),
    path("conversations/<number:number>/handoff", widget.ConversationHandoffApi.as_view(), name="widget-handoff"),
    path("messages/<id:message_id>/feedback", widget.MessageFeedbackApi.as_view(), name="widget-feedback"),
    path("kb/search", kb_api.WidgetSearchApi.as_view(), name="widget-kb-search"),
    path("kb/articles/<slug:slug>", kb_api.WidgetArticleApi.as_view(), name="widget-kb-article"),
]

agent_urlpatterns = [
    path("conversations/", agents.ConversationListApi.as_view(), name="api-conversations"),
    path("conversations/<number:number>/", agents.ConversationDetailApi.as_view(), name="api-conversation"),
    path("conversations/<number:number>/reply", agents.ConversationReplyApi.as_view(), name="api-conversation-reply"),
    path("conversations/<number:number>/notes", agents.ConversationNoteApi.as_view(), name="api-conversation-note"),
    path("conversations/<number:number>/assign", agents.ConversationAssignApi.as_view(), name="api-conversation-assign"),
    path("conversations/<number:number>/status", agents.ConversationStatusApi.as_view(), name="api-conversation-status"),
    path("conversations/<number:number>/drafts", drafts.ConversationDraftListApi.as_view(), name="api-conversation-drafts"),
    path("conversations/<number:number>/drafts/<id:draft_id>/reject", drafts.DraftRejectApi.as_view(), name="api-draft-reject"),
    path("conversations/<number:number>/drafts/<id:draft_id>/regenerate", drafts.DraftRegenerateApi.as_view(), name="api-draft-regenerate"),
    path("contacts/", agents.ContactListApi.as_view(), name="api-contacts"),
    path("contacts/<id:contact_id>/", agents.ContactDetailApi.as_view(), name="api-contact"),
    path("kb/search", kb_api.AgentSearchApi.as_view(), name="api-kb-search"),
    path("invitations/", agents.InvitationCreateApi.as_view(), name="api-invitations"),
]
