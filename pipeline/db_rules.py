"""Database-level rules that a CHECK constraint cannot express (they span two tables).

A deal's closed_at must be set exactly when its stage is won or lost; a stage's kind
cannot change while deals sit in it. Installed by migration 0003 as triggers, for
PostgreSQL and SQLite. On SQLite, a later migration that rebuilds pipeline_deal drops its
triggers: call install() again in that migration (tests/pipeline/test_db_rules.py fails
otherwise).
"""

from django.db.backends.base.base import BaseDatabaseWrapper

CLOSED_AT_MESSAGE = (
    "pipeline_deal_closed_at_matches_stage: closed_at must be set exactly when "
    "the stage is won or lost"
)
STAGE_KIND_MESSAGE = "pipeline_stage_kind_locked: a stage with deals cannot change its kind"

POSTGRESQL_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION pipeline_deal_closed_at_matches_stage() RETURNS trigger AS $$
    DECLARE
        stage_kind varchar;
    BEGIN
        SELECT kind INTO stage_kind FROM pipeline_stage WHERE id = NEW.stage_id;
        IF (stage_kind IN ('won', 'lost')) IS DISTINCT FROM (NEW.closed_at IS NOT NULL) THEN
            RAISE EXCEPTION '{CLOSED_AT_MESSAGE} (deal %)', NEW.id
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE TRIGGER pipeline_deal_closed_at_matches_stage
    BEFORE INSERT OR UPDATE OF stage_id, closed_at ON pipeline_deal
    FOR EACH ROW EXECUTE FUNCTION pipeline_deal_closed_at_matches_stage()
    """,
    f"""
    CREATE OR REPLACE FUNCTION pipeline_stage_kind_locked() RETURNS trigger AS $$
    BEGIN
        IF NEW.kind <> OLD.kind
           AND EXISTS (SELECT 1 FROM pipeline_deal WHERE stage_id = NEW.id) THEN
            RAISE EXCEPTION '{STAGE_KIND_MESSAGE} (stage %)', NEW.id
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE TRIGGER pipeline_stage_kind_locked
    BEFORE UPDATE OF kind ON pipeline_stage
    FOR EACH ROW EXECUTE FUNCTION pipeline_stage_kind_locked()
    """,
]
POSTGRESQL_UNINSTALL = [
    "DROP TRIGGER IF EXISTS pipeline_deal_closed_at_matches_stage ON pipeline_deal",
    "DROP FUNCTION IF EXISTS pipeline_deal_closed_at_matches_stage()",
    "DROP TRIGGER IF EXISTS pipeline_stage_kind_locked ON pipeline_stage",
    "DROP FUNCTION IF EXISTS pipeline_stage_kind_locked()",
]

# SQLite: RAISE(ABORT) reports SQLITE_CONSTRAINT, which Python raises as IntegrityError.
_SQLITE_CLOSED_AT_MISMATCH = (
    "((SELECT kind FROM pipeline_stage WHERE id = NEW.stage_id) IN ('won', 'lost'))"
    " IS NOT (NEW.closed_at IS NOT NULL)"
)
SQLITE_INSTALL = [
    f"""
    CREATE TRIGGER IF NOT EXISTS pipeline_deal_closed_at_matches_stage_insert
    BEFORE INSERT ON pipeline_deal
    WHEN {_SQLITE_CLOSED_AT_MISMATCH}
    BEGIN SELECT RAISE(ABORT, '{CLOSED_AT_MESSAGE}'); END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS pipeline_deal_closed_at_matches_stage_update
    BEFORE UPDATE OF stage_id, closed_at ON pipeline_deal
    WHEN {_SQLITE_CLOSED_AT_MISMATCH}
    BEGIN SELECT RAISE(ABORT, '{CLOSED_AT_MESSAGE}'); END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS pipeline_stage_kind_locked
    BEFORE UPDATE OF kind ON pipeline_stage
    WHEN NEW.kind <> OLD.kind AND EXISTS (SELECT 1 FROM pipeline_deal WHERE stage_id = NEW.id)
    BEGIN SELECT RAISE(ABORT, '{STAGE_KIND_MESSAGE}'); END
    """,
]
SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS pipeline_deal_closed_at_matches_stage_insert",
    "DROP TRIGGER IF EXISTS pipeline_deal_closed_at_matches_stage_update",
    "DROP TRIGGER IF EXISTS pipeline_stage_kind_locked",
]

_STATEMENTS = {
    "postgresql": (POSTGRESQL_INSTALL, POSTGRESQL_UNINSTALL),
    "sqlite": (SQLITE_INSTALL, SQLITE_UNINSTALL),
}


def _run(connection: BaseDatabaseWrapper, install: bool) -> None:
    if connection.vendor not in _STATEMENTS:
        raise NotImplementedError(f"no deal rules for the {connection.vendor} backend")
    statements = _STATEMENTS[connection.vendor][0 if install else 1]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install(connection: BaseDatabaseWrapper) -> None:
    _run(connection, install=True)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    _run(connection, install=False)
