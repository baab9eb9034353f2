"""Alembic environment: URL from DATABASE_URL, online mode only, plus the
`migration` fault used to test how the deploy tooling handles a failed migration."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from app.config import ConfigError, Fault, load_settings

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

# SystemExit with a message: one clear line on stderr and exit status 1, no traceback.
try:
    settings = load_settings()
except ConfigError as exc:
    raise SystemExit(f"alembic: {exc}") from None

if settings.fault is Fault.MIGRATION:
    # Before any connection is opened, so the schema is guaranteed untouched. This
    # fails every alembic command of the image (also `current`), which is the point:
    # even an up-to-date database must see the migration step fail.
    raise SystemExit("alembic: injected fault APP_FAULT=migration: migration refused, schema left unchanged")

if context.is_offline_mode():
    raise RuntimeError("offline (--sql) mode is not supported; run against a database")

# NullPool: a one-shot CLI process has no use for pooled connections.
engine = create_engine(settings.database_url, poolclass=pool.NullPool, connect_args={"connect_timeout": 5})
with engine.connect() as connection:
    # target_metadata is left unset on purpose: revisions are written by hand,
    # autogenerate is not part of the workflow.
    context.configure(connection=connection)
    # One transaction for the whole run: PostgreSQL DDL is transactional, so a
    # failing revision leaves the schema exactly as it was.
    with context.begin_transaction():
        context.run_migrations()
