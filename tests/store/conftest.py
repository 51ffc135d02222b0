"""Fixtures that run every store test on SQLite and on PostgreSQL, each in a clean database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from cobranza.store import Store

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_url() -> str:
    return os.environ.get("COBRANZA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _libpq_url(url: str) -> str:
    """The same server for psycopg itself, which does not know SQLAlchemy's driver suffix."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(_libpq_url(_postgres_url()), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {_postgres_url()} is unreachable: {exc}".strip()
        if os.environ.get("COBRANZA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (COBRANZA_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        opened = Store.from_url(f"sqlite:///{tmp_path / 'cobranza.db'}")
        opened.create_all()
        yield opened
        opened.dispose()
        return
    admin = _admin_connection()
    schema = f"test_store_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in _postgres_url() else "?"
    options = quote(f"-csearch_path={schema}")
    opened = Store.from_url(f"{_postgres_url()}{separator}options={options}")
    try:
        opened.create_all()
        yield opened
    finally:
        opened.dispose()
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
