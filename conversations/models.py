"""Conversations, messages, inboxes, contacts and the rest of the desk (tenant schema).

Models arrive with the support-desk issue; the app exists now so every tenant schema has
its place from the first migration on.
"""
