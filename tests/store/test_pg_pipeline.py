"""The statements `store.pg_pipeline` prepares: psycopg's `%s` markers become PostgreSQL's numbered ones."""

from __future__ import annotations

import pytest

from persona_mcp.store.pg_pipeline import numbered


def test_positional_markers_are_numbered_in_order() -> None:
    assert numbered("UPDATE t SET a = %s WHERE b = %s AND c IS NOT DISTINCT FROM %s") == (
        "UPDATE t SET a = $1 WHERE b = $2 AND c IS NOT DISTINCT FROM $3"
    )
    assert numbered("COMMIT") == "COMMIT"


@pytest.mark.parametrize("sql", ["SELECT 1 WHERE a LIKE 'x%%'", "SELECT %(name)s", "SELECT '%' || %s"])
def test_any_other_percent_sign_is_refused_rather_than_sent_as_written(sql: str) -> None:
    with pytest.raises(ValueError, match="only positional %s markers"):
        numbered(sql)
