"""Hearth's WSGI application plus the benchmark's baseline: `POST /__baseline` inserts one row
with raw SQL through Django's connection and answers 201, skipping everything else."""

import json

from django.db import connection

from config.wsgi import application as hearth


def application(environ, start_response):
    if environ.get("PATH_INFO") != "/__baseline":
        return hearth(environ, start_response)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    content = json.loads(environ["wsgi.input"].read(length) or b"{}").get("content", "")
    with connection.cursor() as cursor:
        # No SET search_path: the table is named with its schema, and a widget request on a
        # kept connection no longer sends one either (config/tenant_postgresql/base.py).
        cursor.execute("INSERT INTO public.bench_baseline (content) VALUES (%s) RETURNING id", [content])
        row_id = cursor.fetchone()[0]
    body = json.dumps({"id": row_id}).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
