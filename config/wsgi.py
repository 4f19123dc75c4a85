"""Hearth's WSGI application: the widget API's paths go to a handler with less middleware
(config/widget_handler.py), everything else to Django's usual one."""

import os

from django.core.handlers.wsgi import get_path_info
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
default_application = get_wsgi_application()  # sets Django up: the imports below need it

from config.widget_handler import WidgetApiHandler  # noqa: E402
from conversations.api.cors import is_widget_api_path  # noqa: E402

widget_api_application = WidgetApiHandler()


def application(environ, start_response):
    handler = widget_api_application if is_widget_api_path(get_path_info(environ)) else default_application
    return handler(environ, start_response)
