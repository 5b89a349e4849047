"""Test helpers: throwaway PostGIS databases on the server named by the environment.

``GEO_SERVICE_TEST_DATABASE_URL`` (``postgresql://user:password@127.0.0.1:5432/postgres``) is a
role allowed to create databases; ``.ci/run`` installs PostgreSQL and PostGIS from Debian,
starts a server on 127.0.0.1 and sets it. Every test gets its own database, cloned from a
template that already has the PostGIS extension (``CREATE DATABASE ... TEMPLATE``, a file
copy), and dropped afterwards. Without the variable the PostGIS variants are skipped with
:data:`SKIP_REASON`; with it set but the server unreachable they fail (a broken setup is
never silently skipped).
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

ENV = "GEO_SERVICE_TEST_DATABASE_URL"
SKIP_REASON = (
    f"PostGIS tests need {ENV}=postgresql://user:password@host:port/postgres (a role that may "
    "CREATE DATABASE on a server with PostGIS); .ci/run installs and starts one"
)
TEMPLATE = "geo_service_test_template"


def admin_url() -> str:
    """The server URL from the environment, or skip the test with :data:`SKIP_REASON`."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        pytest.skip(SKIP_REASON)
    return url


def database_url(admin: str, name: str) -> str:
    """``admin`` with its database replaced by ``name``."""
    parts = urlsplit(admin)
    return urlunsplit(parts._replace(path=f"/{name}"))


def ensure_template(admin: str) -> None:
    """Create the template database with PostGIS once per server (idempotent, and safe when
    several test processes start at once: they wait on an advisory lock)."""
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute("SELECT pg_advisory_lock(hashtext(%s))", (TEMPLATE,))
        try:
            found = con.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)
            ).fetchone()
            if found:
                return
            name = f"{TEMPLATE}_{uuid.uuid4().hex[:8]}"  # built aside, renamed when ready
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            with psycopg.connect(database_url(admin, name), autocommit=True) as db:
                db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            con.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(name), sql.Identifier(TEMPLATE)
                )
            )
        finally:
            con.execute("SELECT pg_advisory_unlock(hashtext(%s))", (TEMPLATE,))


def create_database(admin: str, *, template: str = TEMPLATE, prefix: str = "gs_test") -> str:
    """A new database cloned from ``template``; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return database_url(admin, name)


def drop_database(admin: str, url: str) -> None:
    """Drop the database of ``url``, closing the connections still open to it."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
