"""Alembic migrations of the PostGIS store's own tables, and running them on open.

Layer tables are not migrated here: they follow the layer registry (created on a layer's
first upload, widened when a schema gains a field; see :mod:`geo_service.storage.postgis`).
A new revision goes in ``versions/`` (``alembic revision`` with ``script_location`` set to
this folder) and :data:`HEAD` is set to its id, so that opening an up-to-date store costs one
query and never imports Alembic.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

__all__ = ["HEAD", "SCRIPT_LOCATION", "current_revision", "migrate", "sqlalchemy_url"]

HEAD = "0001"
"""The newest revision in ``versions/`` (a test checks it against Alembic's own head)."""
SCRIPT_LOCATION = Path(__file__).parent


def sqlalchemy_url(url: str) -> str:
    """A libpq URL for SQLAlchemy with the psycopg 3 driver.

    Examples
    --------
    >>> sqlalchemy_url("postgresql://geo@localhost/cities")
    'postgresql+psycopg://geo@localhost/cities'
    """
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep:
        raise ValueError("expected a postgresql:// URL")
    return f"postgresql+psycopg://{rest}"


def current_revision(url: str, *, schema: str) -> str | None:
    """The store's Alembic revision, or None for a schema never migrated."""
    with psycopg.connect(url, autocommit=True) as con, con.cursor() as cur:
        cur.execute(
            "SELECT to_regclass(%s)", (sql.Identifier(schema, "alembic_version").as_string(None),)
        )
        row = cur.fetchone()
        if row is None or row[0] is None:
            return None
        cur.execute(
            sql.SQL("SELECT version_num FROM {}").format(sql.Identifier(schema, "alembic_version"))
        )
        found = cur.fetchone()
        return None if found is None else str(found[0])


def migrate(url: str, *, schema: str, search_path: str) -> str:
    """Bring the store's schema to :data:`HEAD` (creating it if needed); the revision.

    Runs ``alembic upgrade head`` on one connection holding an advisory lock, so that
    processes opening the same store at once migrate it once.
    """
    if current_revision(url, schema=schema) == HEAD:
        return HEAD
    import sqlalchemy as sa  # noqa: PLC0415 - only a store that needs migrating pays for these
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
            connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {_quoted(schema)}"))
            connection.execute(sa.text(f"SET LOCAL search_path TO {search_path}"))
            config.attributes["connection"] = connection
            config.attributes["schema"] = schema
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    return HEAD


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
