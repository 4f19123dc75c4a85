"""pgvector and pg_trgm, created once in the public schema.

Every tenant schema's search path ends in `public`, so the `vector` type and the trigram
operators are usable from tenant tables without creating the extensions per schema. This
migration belongs to a shared app, so django-tenants runs it in the public schema only.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [VectorExtension(), TrigramExtension()]
