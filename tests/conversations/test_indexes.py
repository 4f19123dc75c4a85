"""The indexes of the tables every widget message writes (conversations_message: one INSERT;
conversations_conversation: one UPDATE, never a HOT one, so every index gets a new entry):
none is made redundant by another, and every foreign key still leads an index, so deleting a
user, team, contact or conversation finds its rows without reading the table."""

from __future__ import annotations

import pytest
from django.db import connection

TABLES = ("conversations_message", "conversations_conversation")


def _indexes(table: str) -> list[dict]:
    """Each index's name, key columns in order, whether it is plain (no expression, no
    predicate, not unique: one that only serves lookups) and whether it is partial."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT index.relname,
                   ARRAY(SELECT attribute.attname FROM unnest(i.indkey) WITH ORDINALITY AS key(attnum, position)
                         JOIN pg_attribute attribute ON attribute.attrelid = i.indrelid AND attribute.attnum = key.attnum
                         ORDER BY key.position),
                   i.indexprs IS NULL AND i.indpred IS NULL AND NOT i.indisunique AND 0 <> ALL (i.indkey::int2[]),
                   am.amname, i.indpred IS NOT NULL
            FROM pg_index i JOIN pg_class index ON index.oid = i.indexrelid JOIN pg_am am ON am.oid = index.relam
            WHERE i.indrelid = %s::regclass
            """,
            [table],
        )
        return [
            {"name": name, "columns": columns, "plain": plain, "method": method, "partial": partial}
            for name, columns, plain, method, partial in cursor.fetchall()
        ]


def _foreign_keys(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attribute.attname FROM pg_constraint c JOIN pg_attribute attribute"
            " ON attribute.attrelid = c.conrelid AND attribute.attnum = c.conkey[1]"
            " WHERE c.conrelid = %s::regclass AND c.contype = 'f'",
            [table],
        )
        return sorted(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize("table", TABLES)
def test_no_plain_index_is_the_leading_part_of_another(db, alpha, table):
    connection.set_tenant(alpha)
    indexes = _indexes(table)
    redundant = [
        (index["name"], other["name"])
        for index in indexes if index["plain"] and index["method"] == "btree"
        for other in indexes
        if other is not index and other["method"] == "btree" and not other["partial"] and other["columns"][: len(index["columns"])] == index["columns"]
    ]
    assert redundant == []


@pytest.mark.parametrize("table", TABLES)
def test_every_foreign_key_leads_an_index(db, alpha, table):
    connection.set_tenant(alpha)
    leading = {index["columns"][0] for index in _indexes(table) if index["method"] == "btree" and not index["partial"] and index["columns"]}
    assert _foreign_keys(table)  # the catalog query finds them
    assert [column for column in _foreign_keys(table) if column not in leading] == []
