"""Where the store lives by default, and that worker threads can write to it at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from cobranza.store import Store
from cobranza.store.engine import resolve_url

from .factories import T0, entry, message_fields, recording, snapshot


def test_default_store_is_a_sqlite_file_under_dot_cobranza(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    store = Store.from_url()
    store.create_all()
    store.record(recording(snapshot()))
    store.dispose()

    assert store.dialect == "sqlite"
    assert (tmp_path / ".cobranza" / "cobranza.db").is_file()


def test_database_url_wins_over_the_default_and_an_explicit_url_over_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env = f"sqlite:///{tmp_path / 'env' / 'store.db'}"
    monkeypatch.setenv("DATABASE_URL", from_env)

    assert resolve_url(None) == from_env
    assert resolve_url("postgresql+psycopg://postgres@db/x") == "postgresql+psycopg://postgres@db/x"
    Store.from_url().create_all()
    assert (tmp_path / "env" / "store.db").is_file()


async def test_worker_threads_write_concurrently_without_losing_or_doubling(
    store: Store,
) -> None:
    """Activities call the store through asyncio.to_thread; retries race with first tries."""

    def lifecycle(n: int) -> None:
        snap = snapshot(f"INV-{n}")
        for seq in range(1, 6):
            later = snap.model_copy(
                update={"dunning_level": seq, "updated_at": T0 + timedelta(hours=seq)}
            )
            store.record(recording(later, entry(later, seq)))
        fields = message_fields(f"msg-{n}", invoice_ids=[snap.invoice_id])
        store.begin_message(**fields)
        store.mark_message_sent(fields["dedupe_key"], f"prov-{n}", T0)

    # Every lifecycle runs twice at once, as a retried activity would.
    await asyncio.gather(*(asyncio.to_thread(lifecycle, n % 12) for n in range(24)))

    assert store.count_invoices() == 12
    assert store.count_timeline() == 60
    assert store.count_messages(status="sent") == 12
    assert {s.dunning_level for s in store.invoices()} == {5}


def test_a_bare_postgresql_url_uses_psycopg_3() -> None:
    store = Store.from_url("postgresql://postgres@127.0.0.1:5432/test")

    assert store.engine.dialect.driver == "psycopg"
    store.dispose()
