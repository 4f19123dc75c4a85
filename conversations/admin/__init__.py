"""The desk's admin: the conversation queue and page (queue.py) and the account's setup (setup.py)."""

from conversations.admin import queue, setup

__all__ = ["queue", "setup"]
