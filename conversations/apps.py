from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Support desk"

    def ready(self):
        from conversations import session_cache
        from conversations.api import cors  # noqa: F401  (connects the CORS origin check)

        session_cache.signals_connect()
