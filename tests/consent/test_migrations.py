"""The consent schema: migrated from empty to head on both backends, and equal to the models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from consent import ConsentSigner, JwksVerifier, SchemaError
from consent.database import create_store_engine
from consent.migrations import (
    MIGRATE_COMMAND,
    SchemaState,
    check_schema,
    current_revision,
    head,
    require_schema,
    upgrade,
)
from consent.store import ConsentStore
from consent.store.tables import APPEND_ONLY, metadata
from tests.consent.conftest import NOW, artefact, mandate, template


def test_an_empty_database_is_migrated_to_head(empty_db: sa.URL) -> None:
    engine = create_store_engine(empty_db)
    try:
        assert current_revision(engine) is None
        assert check_schema(engine).state is SchemaState.EMPTY
        upgrade(engine)
        assert current_revision(engine) == head()
        assert check_schema(engine).state is SchemaState.AT_HEAD
        require_schema(engine)
        assert set(sa.inspect(engine).get_table_names()) >= set(metadata.tables)
        upgrade(engine)  # at head already: nothing to do
        assert current_revision(engine) == head()
    finally:
        engine.dispose()


def test_the_models_and_the_migrations_agree(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_an_unmigrated_database_is_refused_naming_the_command(
    empty_db: sa.URL, verifier: JwksVerifier
) -> None:
    engine = create_store_engine(empty_db)
    try:
        with pytest.raises(SchemaError, match="has no tables") as caught:
            ConsentStore(engine, verifier)
        assert MIGRATE_COMMAND.format(url="").strip() in str(caught.value)
    finally:
        engine.dispose()


def test_a_database_from_newer_code_is_refused(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    assert check_schema(engine).state is SchemaState.NEWER
    with pytest.raises(SchemaError, match="newer than this code"):
        require_schema(engine)


@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("statement", ["UPDATE {} SET why = 'rewritten'", "DELETE FROM {}"])
def test_history_tables_are_append_only(
    engine: sa.Engine, store: ConsentStore, signer: ConsentSigner, table: str, statement: str
) -> None:
    store.grant(signer.sign_artefact(artefact()), template(), actor="clerk", now=NOW)
    store.register_mandate(signer.sign_mandate(mandate()), actor="registrar", now=NOW)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as connection:
        connection.exec_driver_sql(statement.format(table))
    assert len(store.history("c-1")) == len(store.mandate_history("m-1")) == 1
