"""Importing deals: validate every row against what the database holds, then write the
good ones in one transaction, in bulk.

One read per lookup table, one per 2,000 external ids and one per batch written: a file
of 100,000 rows costs a few hundred queries, never one per row. Validation repeats the
rules of Deal.clean and the database (constraints and the closed_at trigger) so that a
bad row is reported, not refused by the database halfway.

Like deal_save, every deal created or changed gets a history row (written in bulk, by
`by`, at the moment of the write) and a changed deal's version goes up by one. A row whose
external_id is a deleted deal is refused: an admin restores the deal first, so an import
neither brings it back behind their back nor makes a duplicate.
"""

import datetime as dt
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..models import Deal, StageChange
from ..validators import IMPORTED_PREFIX, RESERVED_EXTERNAL_ID, is_reserved_external_id
from .csvfile import CsvFile, open_csv
from .deal_rows import COLUMNS, DealRow, parse_row
from .lookups import Lookups
from .progress import Progress
from .results import ImportConflictError, ImportResult, RowError
from .values import key

CHUNK = 2000  # ids per IN (...) and rows per write batch
# What export_csv writes for a deal made here, which has no external_id of its own.
EXPORTED_PK = RESERVED_EXTERNAL_ID
COMPARED = (
    "name",
    "company_id",
    "product_id",
    "owner_id",
    "stage_id",
    "amount",
    "created_at",
    "closed_at",
    "expected_close_date",
)
UPDATED = (*COMPARED, "team_id", "lost_reason", "updated_at", "version")
# What is read of an existing deal: its compared values and what the write carries over.
CURRENT = ("pk", "external_id", *COMPARED, "team_id", "lead_id", "lost_reason", "updated_at")
CURRENT += ("version", "deleted_at")


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stored_external_id(external_id: str) -> str:
    """The id a new deal keeps: a file's own id as written; the reserved salesperf-<pk>
    of a deal that is not here (a file of another instance, or of a database since
    emptied) under IMPORTED_PREFIX, so that no deal here holds a reserved id (the next
    export would name two deals alike) and importing the file again finds it."""
    if is_reserved_external_id(external_id):
        return IMPORTED_PREFIX + external_id
    return external_id


def _attach_current_deals(rows: dict[str, DealRow]) -> None:
    """Set `current` on the rows whose external_id is a deal already: one query per chunk.
    An id of the form salesperf-<pk>, as export_csv writes for a deal made here, matches
    that deal when it has no external_id of its own and was created at the same instant:
    the file came from this instance, not from another one whose deal <pk> is a different
    deal. Otherwise it matches the deal an earlier import made of it (stored_external_id),
    or none (that row becomes a new deal). A reserved id is never looked up as a deal's own:
    none may hold it (pipeline.validators), and one that did must not take the row."""
    fields = CURRENT
    # Deleted deals too: their external_id is still taken, and the row must say so.
    deals = Deal.all_objects.order_by()
    by_stored_id = {stored_external_id(external_id): row for external_id, row in rows.items()}
    exported = {}
    for external_id, row in rows.items():
        match = EXPORTED_PK.fullmatch(external_id)
        if match:
            exported[int(match[1])] = row
    for chunk in _chunks(list(exported)):
        found = deals.filter(pk__in=chunk, external_id__isnull=True).values_list(
            *fields, named=True
        )
        for current in found:
            if current.created_at == exported[current.pk].created_at:
                exported[current.pk].current = current
    for chunk in _chunks(list(by_stored_id)):
        for current in deals.filter(external_id__in=chunk).values_list(*fields, named=True):
            row = by_stored_id[current.external_id]
            if row.current is None:
                row.current = current


def _check_current(
    row: DealRow, lookups: Lookups, allowed_owner_ids: set[int] | None
) -> RowError | None:
    current = row.current
    if current.deleted_at is not None:
        message = f"Deal {row.external_id} was deleted; an admin can restore it."
        return RowError(row.line, "external_id", message)
    if allowed_owner_ids is not None and current.owner_id not in allowed_owner_ids:
        message = f"Deal '{row.external_id}' belongs to someone outside your teams."
        return RowError(row.line, "external_id", message)
    pipeline = lookups.stage_pipeline[current.stage_id]
    if not pipeline.is_default:
        message = f"This deal is in the pipeline '{pipeline}'; imports use the default one."
        return RowError(row.line, "stage", message)
    return None


def _values(row: DealRow, lookups: Lookups) -> tuple:
    return (
        row.name,
        lookups.companies.id_of(row.company),
        lookups.products.id_of(row.product),
        row.owner_id,
        row.stage.pk,
        row.amount,
        row.created_at,
        row.closed_at,
        row.expected_close_date,
    )


def import_deals(
    source,
    *,
    skip_invalid: bool = False,
    by=None,
    allowed_owner_ids: set[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Import a deals CSV (docs/import.md): every row is checked before anything is
    written; then, unless a row is bad and not `skip_invalid`, all of it in one transaction.

    `by` is recorded as who made the stage changes; `allowed_owner_ids`, when given, limits
    the owners of the new and the existing deals (a manager's teams); `progress(done,
    total)` is called every ~1,000 rows (a row counts half once checked, whole once written).
    """
    csv_file = open_csv(source, columns=COLUMNS)
    result = ImportResult(kind="deals", rows=csv_file.rows)
    steps = Progress(progress, csv_file.rows)
    lookups = Lookups()
    rows, bad_lines = _check_rows(csv_file, lookups, result, steps, allowed_owner_ids)
    result.errors.sort(key=lambda error: error.line)
    if result.errors and not skip_invalid:
        steps.finish()
        return result
    result.skipped = len(bad_lines)

    new, changed = [], []
    for row in rows.values():
        lookups.companies.note(row.company)
        lookups.products.note(row.product)
        lookups.sources.note(row.lead_source)
        if row.current is None:
            new.append(row)
        elif tuple(getattr(row.current, name) for name in COMPARED) != _values(row, lookups):
            changed.append(row)
    result.unchanged = len(rows) - len(new) - len(changed)
    steps.start_writing(done=result.unchanged + result.skipped)
    if new or changed or lookups.sources.new:
        _write(new, changed, lookups, by=by, result=result, steps=steps)
    result.created, result.updated, result.written = len(new), len(changed), True
    steps.finish()
    return result


def _check_rows(
    csv_file: CsvFile,
    lookups: Lookups,
    result: ImportResult,
    steps: Progress,
    allowed_owner_ids: set[int] | None,
) -> tuple[dict[str, DealRow], set[int]]:
    """The valid rows by external_id, with the deal each one matches; errors go to
    `result`. Returns the lines of the bad rows too."""
    decimal_comma = csv_file.delimiter == ";"
    rows: dict[str, DealRow] = {}
    first_lines: dict[str, int] = {}
    bad_lines: set[int] = set()
    for done, (line, record) in enumerate(csv_file.records(), start=1):
        steps.advance(done)
        if isinstance(record, RowError):
            result.errors.append(record)
            bad_lines.add(line)
            continue
        parsed = parse_row(
            line, record, lookups, decimal_comma=decimal_comma, allowed_owner_ids=allowed_owner_ids
        )
        errors = parsed if isinstance(parsed, list) else []
        external_id = record["external_id"]
        if external_id in first_lines:
            # Reported even when the first row is bad: the file is ambiguous either way.
            message = f"external_id {external_id} already on line {first_lines[external_id]}."
            errors.append(RowError(line, "external_id", message))
        elif external_id:
            first_lines[external_id] = line
        if errors:
            result.errors.extend(errors)
            bad_lines.add(line)
        else:
            rows[parsed.external_id] = parsed

    _attach_current_deals(rows)
    matched: dict[int, DealRow] = {}
    for row in list(rows.values()):
        error = _check_current(row, lookups, allowed_owner_ids) if row.current else None
        if row.current and error is None:
            first = matched.setdefault(row.current.pk, row)
            if first is not row:
                message = f"Deal {first.external_id} of line {first.line} is this deal too."
                error = RowError(row.line, "external_id", message)
        if error:
            result.errors.append(error)
            bad_lines.add(row.line)
            del rows[row.external_id]
    return rows, bad_lines


def _write(
    new: list[DealRow],
    changed: list[DealRow],
    lookups: Lookups,
    *,
    by,
    result: ImportResult,
    steps: Progress,
) -> None:
    """Everything in one transaction: a database error leaves nothing behind."""
    used = {
        "company": {key(row.company) for row in new + changed if row.company},
        "product": {key(row.product) for row in new + changed if row.product},
        # A source is created even for an unchanged deal: deals do not store it.
        "lead_source": set(lookups.sources.new),
    }
    try:
        with transaction.atomic():
            _lock_changed(changed)
            result.also_created = {
                "companies": lookups.companies.create(used["company"]),
                "products": lookups.products.create(used["product"]),
                "lead_sources": lookups.sources.create(used["lead_source"]),
            }
            now = timezone.now()
            for chunk in _chunks(new):
                created = Deal.objects.bulk_create([_new_deal(row, lookups) for row in chunk])
                _record_history([deal.pk for deal in created], by=by, at=now, kind="+")
                steps.advance_writing(len(chunk))
            for chunk in _chunks(changed, 500):
                deals, moves = zip(
                    *(_changed_deal(row, lookups, by, now) for row in chunk), strict=True
                )
                _update(deals)
                _record_history([deal.pk for deal in deals], by=by, at=now, kind="~")
                StageChange.objects.bulk_create([move for move in moves if move is not None])
                steps.advance_writing(len(chunk))
    except IntegrityError as error:
        reason = " ".join(str(error).split())
        raise ImportConflictError(
            "The database refused the import, so nothing was written: another import or edit "
            f"probably changed the same deals at the same time; run it again. ({reason})"
        ) from error


def _record_history(ids: list[int], *, by, at: dt.datetime, kind: str) -> None:
    """One history row per deal written ("+" created, "~" changed), in one statement: bulk
    writes send no post_save signal, so simple-history would record nothing.

    INSERT … SELECT copies the rows as stored, so the history holds exactly what the
    database does, and it costs the database a moment instead of building 100,000 model
    instances in Python (measured: the ORM's bulk_create doubled the import's time).
    """
    if not ids or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    history = Deal.history.model
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in history.tracked_fields)
    extra = ("history_date", "history_type", "history_user_id", "history_change_reason")
    when = history._meta.get_field("history_date").get_db_prep_save(at, connection)
    placeholders = ", ".join(["%s"] * len(ids))
    sql = (
        f"INSERT INTO {quote(history._meta.db_table)} ({columns}, "
        f"{', '.join(quote(name) for name in extra)}) "
        f"SELECT {columns}, %s, %s, %s, NULL FROM {quote(Deal._meta.db_table)} "
        f"WHERE {quote('id')} IN ({placeholders})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [when, kind, getattr(by, "pk", None), *ids])


def _update(deals: Iterable[Deal]) -> None:
    """Write the UPDATED fields of deals: one UPDATE statement run for every row.

    bulk_update would build a CASE per column over the whole batch, which grows with the
    square of the batch (measured: 30 s for 10,000 deals); executemany is linear, and
    psycopg sends the statements in a pipeline. Values are prepared by the model fields,
    as the ORM would.
    """
    fields = [Deal._meta.get_field(name) for name in UPDATED]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(Deal._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"
    params = [
        [field.get_db_prep_save(getattr(deal, field.attname), connection) for field in fields]
        + [deal.pk]
        for deal in deals
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _lock_changed(changed: list[DealRow]) -> None:
    """Lock the deals to update and check that nobody changed them since they were read:
    their stage changes must start from the stage they are really in."""
    expected = {row.current.pk: row.current.updated_at for row in changed}
    for chunk in _chunks(list(expected)):
        current = Deal.objects.select_for_update().filter(pk__in=chunk).order_by()
        for pk, updated_at in current.values_list("pk", "updated_at"):
            if expected.pop(pk) != updated_at:
                expected[pk] = None
    if expected:
        raise ImportConflictError(
            f"{len(expected)} deals changed or were deleted while the file was checked, so "
            "nothing was written; run the import again."
        )


def _new_deal(row: DealRow, lookups: Lookups) -> Deal:
    # A new deal counts for its owner's team and has no StageChange: its history before
    # the import is unknown (deal_save does the same for a new deal).
    return Deal(
        external_id=stored_external_id(row.external_id),
        name=row.name,
        company_id=lookups.companies.id_of(row.company),
        product_id=lookups.products.id_of(row.product),
        owner_id=row.owner_id,
        team_id=row.owner_team_id,
        stage=row.stage,
        amount=row.amount,
        created_at=row.created_at,
        closed_at=row.closed_at,
        expected_close_date=row.expected_close_date,
    )


def _changed_deal(
    row: DealRow, lookups: Lookups, by, now: dt.datetime
) -> tuple[Deal, StageChange | None]:
    """The deal's new values under deal_save's rules, and its stage change if it moved."""
    current = row.current
    moved = current.stage_id != row.stage.pk
    # The team follows the owner while the deal is open and is frozen once it closes.
    keeps_team = row.stage.is_closed and current.team_id is not None and not moved
    deal = _new_deal(row, lookups)
    deal.pk = current.pk
    deal.external_id = current.external_id
    deal.team_id = current.team_id if keeps_team else row.owner_team_id
    deal.lost_reason = "" if moved else current.lost_reason
    deal.lead_id = current.lead_id
    deal.updated_at = now
    deal.version = current.version + 1
    if not moved:
        return deal, None
    move = StageChange(
        deal_id=current.pk,
        from_stage_id=current.stage_id,
        to_stage=row.stage,
        changed_at=row.closed_at if row.stage.is_closed else now,
        changed_by=by,
    )
    return deal, move
