"""Alembic environment: runs on the connection that `forwardpass.registry.migrate` gives."""

from alembic import context

from forwardpass.registry.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
