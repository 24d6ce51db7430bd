"""Alembic environment: always handed a live connection by `persona_mcp.store.migrate`."""

from alembic import context

from persona_mcp.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through persona_mcp.store.migrate.upgrade (persona-mcp db upgrade)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
