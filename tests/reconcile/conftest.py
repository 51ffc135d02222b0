"""A fresh SQLite store per test for reconciliation tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cobranza.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.from_url(f"sqlite:///{tmp_path / 'cobranza.db'}")
    opened.create_all()
    yield opened
    opened.dispose()
