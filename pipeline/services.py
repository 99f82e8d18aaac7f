"""Every write to leads and deals. Pages, admin, API and imports all come through here,
so that a stage move always leaves a StageChange and the won/lost rules always hold.

Every save records a history row (django-simple-history): web and API requests name their
user through the middleware, and the services that know `by` set it on the instance so
commands and Celery tasks record it too. Deals and leads are never removed from their
tables: deleting sets deleted_at (deal_delete, lead_delete), which hides them everywhere.
"""

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ForeignKey, Model
from django.utils import timezone

from accounts.access import Capability, can
from accounts.models import User

from .choices import LeadStatus, StageKind
from .models import Company, Deal, Lead, Pipeline, Product, Stage, StageChange
from .selectors import first_open_stage

OTHER_PIPELINE = "That stage belongs to another pipeline."
NO_PIPELINE = "No default pipeline is set up yet; ask an admin."


class DealConflict(ValidationError):
    """The deal changed since the caller read it (its version moved on): nothing was written.

    `current` is the deal as it is now, for the page or the API to show.
    """

    def __init__(self, *, current: Deal, expected_version: int) -> None:
        self.current = current
        self.expected_version = expected_version
        super().__init__(
            f"Someone else changed this deal since you opened it (version {expected_version} "
            f"is now {current.version}); your changes were not saved.",
            code="conflict",
        )


def _set_history_user(obj: Deal | Lead, by: User | None) -> None:
    # The middleware names the user of a web request; a command or a task has none.
    if by is not None:
        obj._history_user = by


def _loaded_relations(obj: Deal | Lead) -> list[str]:
    """The foreign keys whose row the caller loaded: full_clean would look each one up
    again (a query apiece, on every save). They exist; one deleted meanwhile is still
    refused by the database's foreign key at commit."""
    loaded = []
    for field in obj._meta.concrete_fields:
        if isinstance(field, ForeignKey) and field.is_cached(obj):
            related = field.get_cached_value(obj)
            if related is not None and related.pk is not None:
                if related.pk == getattr(obj, field.attname):
                    loaded.append(field.name)
    return loaded


def _lock_deal(pk: int, *, expected_version: int | None) -> Deal:
    """The deal's row, locked until the transaction ends, checked against the version the
    caller read. A deleted deal cannot be edited: it must be restored first."""
    current = (
        Deal.all_objects.select_for_update(of=("self",))
        .select_related("stage")  # its pipeline, for a move
        .filter(pk=pk)
        .first()
    )
    if current is None or current.deleted_at is not None:
        raise ValidationError("This deal was deleted; an admin can restore it.", code="deleted")
    if expected_version is not None and current.version != expected_version:
        raise DealConflict(current=current, expected_version=expected_version)
    return current


@transaction.atomic
def deal_save(
    *,
    deal: Deal,
    by: User | None = None,
    at: dt.datetime | None = None,
    expected_version: int | None = None,
) -> Deal:
    """Validate and save a new or edited deal; record a StageChange if the stage moved.

    The move is dated `at`, or the deal's closed_at when it closes, or now. The deal's team
    follows its owner while open and is frozen when the deal closes. Every save raises the
    version; with `expected_version` (the version the editor read), a deal saved by someone
    else in between raises DealConflict and nothing is written.
    """
    previous_stage_id = None
    current = None
    if deal.pk is not None:
        # Lock the row: two moves of one deal at once must both land in the history, and
        # the version check and increment must not interleave with another save.
        current = _lock_deal(deal.pk, expected_version=expected_version)
        previous_stage_id = current.stage_id
        deal.version = current.version + 1
        if deal.stage_id != previous_stage_id:
            _check_stage_in_pipeline(deal.stage, current.stage.pipeline_id)
    moved = deal.pk is not None and previous_stage_id != deal.stage_id
    if deal.stage.kind == StageKind.OPEN or deal.team_id is None or moved:
        deal.team_id = deal.owner.team_id
    if deal.external_id:
        _check_external_id_not_deleted(deal)
    deal.full_clean(exclude=_loaded_relations(deal))
    _set_history_user(deal, by)
    if current is None:
        deal.save()
    else:
        # Only what changed is written (and recorded): a concurrent edit of another field
        # is not overwritten, and a save that changes nothing leaves no history row.
        changed = _changed_fields(deal, current, ignore=DEAL_BOOKKEEPING)
        if not changed:
            deal.version = current.version
            return deal
        deal.save(update_fields=[*changed, *DEAL_BOOKKEEPING])
    if moved:
        if at is None:
            closed = deal.closed_at if deal.stage.kind != StageKind.OPEN else None
            at = closed or timezone.now()
        StageChange.objects.create(
            deal=deal,
            from_stage_id=previous_stage_id,
            to_stage=deal.stage,
            changed_at=at,
            changed_by=by,
        )
    return deal


DEAL_BOOKKEEPING = ["version", "updated_at"]


def _changed_fields(obj: Model, stored: Model, *, ignore: Iterable[str] = ()) -> list[str]:
    """The concrete fields whose value differs between `obj` and the `stored` row."""
    return [
        field.name
        for field in obj._meta.concrete_fields
        if field.name not in ignore
        and not field.primary_key
        and getattr(obj, field.attname) != getattr(stored, field.attname)
    ]


def _check_stage_in_pipeline(stage: Stage, pipeline_id: int) -> None:
    # A deal stays in its pipeline: its history, funnel and the import (which knows only
    # the default pipeline's stages) all assume so.
    if stage.pipeline_id != pipeline_id:
        raise ValidationError({"stage": OTHER_PIPELINE})


def _deal_create(
    *,
    by: User | None,
    name: str,
    owner: User | None = None,
    company: Company | None = None,
    company_name: str = "",
    stage: Stage | None = None,
    pipeline: Pipeline | None = None,
    amount: Decimal | None = None,
    expected_close_date: dt.date | None = None,
    created_at: dt.datetime | None = None,
    closed_at: dt.datetime | None = None,
    lost_reason: str = "",
    product: Product | None = None,
    lead: Lead | None = None,
    external_id: str | None = None,
) -> Deal:
    """A new deal, with the defaults every way in shares (deal form, quick add, API; the
    import applies the same ones in bulk): owned by `by` unless `owner` is given, in
    `pipeline` (default: the default one) at `stage` (default: its first open stage),
    created now, closed now when the stage is won or lost and no close is given, and at
    the company `company` or the one named `company_name` (found or created).

    Who may own what is the caller's check (the owner choices of the form and the API);
    the values are checked by deal_save, like every save."""
    if pipeline is None:
        # The default pipeline, where pages and the import put new deals.
        if stage is None:
            stage = first_open_stage()
            if stage is None:
                raise ValidationError({"stage": NO_PIPELINE})
        elif not stage.pipeline.is_default:
            raise ValidationError({"stage": OTHER_PIPELINE})
    else:
        if stage is None:
            stage = pipeline.stages.filter(kind=StageKind.OPEN).order_by("order").first()
            if stage is None:
                raise ValidationError({"stage": f"The pipeline {pipeline} has no open stage."})
        _check_stage_in_pipeline(stage, pipeline.pk)
    if company is None and company_name.strip():
        company = company_get_or_create(name=company_name)
    created_at = created_at or timezone.now()
    if stage.kind != StageKind.OPEN and closed_at is None:
        closed_at = timezone.now()
    deal = Deal(
        name=name,
        owner=owner or by,
        company=company,
        stage=stage,
        amount=Decimal("0") if amount is None else amount,
        expected_close_date=expected_close_date,
        created_at=created_at,
        closed_at=closed_at,
        lost_reason=lost_reason,
        product=product,
        lead=lead,
        external_id=external_id,
    )
    return deal_save(deal=deal, by=by)


# In a transaction of its own; lead_convert, already in one, calls _deal_create and so
# saves the savepoint a nested atomic block would cost.
deal_create = transaction.atomic(_deal_create)


def _check_external_id_not_deleted(deal: Deal) -> None:
    # full_clean checks the unique constraint through the default manager, which does not
    # see deleted deals; the database's constraint does, so say why before it refuses.
    deleted = Deal.all_objects.deleted().filter(external_id=deal.external_id).exclude(pk=deal.pk)
    if deleted.exists():
        message = f"Deal {deal.external_id} was deleted; an admin can restore it."
        raise ValidationError({"external_id": message})


@transaction.atomic
def deal_delete(*, deal: Deal, by: User | None, expected_version: int | None = None) -> Deal:
    """Soft-delete a deal: it vanishes from every page, list, export and KPI, and stays in
    the table (with its history) for an admin to restore. Deleting it again does nothing."""
    if by is not None and not can(by, "delete", deal):
        raise PermissionDenied("You can see this deal but not delete it.")
    current = Deal.all_objects.select_for_update().get(pk=deal.pk)
    if current.deleted_at is not None:
        return current
    if expected_version is not None and current.version != expected_version:
        raise DealConflict(current=current, expected_version=expected_version)
    current.deleted_at, current.deleted_by = timezone.now(), by
    current.version += 1
    _set_history_user(current, by)
    current.save(update_fields=["deleted_at", "deleted_by", "version", "updated_at"])
    return current


@transaction.atomic
def deal_restore(*, deal: Deal, by: User | None) -> Deal:
    """Bring a soft-deleted deal back, as it was (admins only)."""
    if by is not None and not can(by, Capability.RESTORE_DELETED):
        raise PermissionDenied("Only an admin can restore a deal.")
    current = Deal.all_objects.select_for_update().get(pk=deal.pk)
    if current.deleted_at is None:
        return current
    current.deleted_at, current.deleted_by = None, None
    current.version += 1
    _set_history_user(current, by)
    current.save(update_fields=["deleted_at", "deleted_by", "version", "updated_at"])
    return current


def deal_move_to_stage(
    *,
    deal: Deal,
    stage: Stage,
    by: User | None = None,
    at: dt.datetime | None = None,
    amount: Decimal | None = None,
    lost_reason: str = "",
    expected_version: int | None = None,
) -> Deal:
    """Move a deal to a stage: closing sets closed_at (to `at`, default now), reopening
    clears it. A move to the stage it is already in changes nothing. `expected_version`
    as in deal_save."""
    if stage.pk == deal.stage_id:
        return deal
    _check_stage_in_pipeline(stage, deal.stage.pipeline_id)
    at = at or timezone.now()
    deal.stage = stage
    if amount is not None:
        deal.amount = amount
    if stage.kind == StageKind.OPEN:
        deal.closed_at = None
        deal.lost_reason = ""
    else:
        deal.closed_at = at
        deal.lost_reason = lost_reason if stage.kind == StageKind.LOST else ""
    return deal_save(deal=deal, by=by, at=at, expected_version=expected_version)


@transaction.atomic
def lead_save(*, lead: Lead, by: User | None = None) -> Lead:
    """Validate and save a new or edited lead; a new lead counts for its owner's team."""
    if lead.team_id is None:
        lead.team_id = lead.owner.team_id
    lead.full_clean(exclude=_loaded_relations(lead))
    _set_history_user(lead, by)
    stored = Lead.all_objects.filter(pk=lead.pk).first() if lead.pk is not None else None
    if stored is None:
        lead.save()
        return lead
    # Only what changed is written and recorded; nothing changed, nothing saved.
    changed = _changed_fields(lead, stored)
    if changed:
        lead.save(update_fields=changed)
    return lead


@transaction.atomic
def lead_delete(*, lead: Lead, by: User | None) -> Lead:
    """Soft-delete a lead: hidden everywhere (its deals stay), kept for an admin to restore."""
    if by is not None and not can(by, "delete", lead):
        raise PermissionDenied("You can see this lead but not delete it.")
    current = Lead.all_objects.select_for_update().get(pk=lead.pk)
    if current.deleted_at is None:
        current.deleted_at, current.deleted_by = timezone.now(), by
        _set_history_user(current, by)
        current.save(update_fields=["deleted_at", "deleted_by"])
    return current


@transaction.atomic
def lead_restore(*, lead: Lead, by: User | None) -> Lead:
    """Bring a soft-deleted lead back (admins only)."""
    if by is not None and not can(by, Capability.RESTORE_DELETED):
        raise PermissionDenied("Only an admin can restore a lead.")
    current = Lead.all_objects.select_for_update().get(pk=lead.pk)
    if current.deleted_at is not None:
        current.deleted_at, current.deleted_by = None, None
        _set_history_user(current, by)
        current.save(update_fields=["deleted_at", "deleted_by"])
    return current


@transaction.atomic
def lead_set_status(*, lead: Lead, status: str, reason: str = "", by: User | None = None) -> Lead:
    """Work, qualify or disqualify a lead; converting goes through lead_convert."""
    if status == LeadStatus.CONVERTED:
        raise ValidationError({"status": "Convert a lead with lead_convert, which makes its deal."})
    if lead.status == LeadStatus.CONVERTED:
        raise ValidationError({"status": "A converted lead cannot change status."})
    lead.status = status
    lead.disqualified_reason = reason if status == LeadStatus.DISQUALIFIED else ""
    return lead_save(lead=lead, by=by)


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    deal_name: str = "",
    amount: Decimal = Decimal("0"),
    stage: Stage | None = None,
    expected_close_date: dt.date | None = None,
    by: User | None = None,
    at: dt.datetime | None = None,
) -> Deal:
    """Turn a lead into a deal at the first open stage (or `stage`) of the default pipeline."""
    if lead.status in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED):
        status = lead.get_status_display().lower()
        raise ValidationError({"status": f"A {status} lead cannot be converted."})
    at = at or timezone.now()
    if stage is not None and stage.kind != StageKind.OPEN:
        raise ValidationError({"stage": "A new deal starts in an open stage."})
    lead.status = LeadStatus.CONVERTED
    lead.converted_at = at
    lead.full_clean(exclude=_loaded_relations(lead))
    _set_history_user(lead, by)
    lead.save()
    return _deal_create(
        by=by,
        name=deal_name or f"{lead.company.name} deal",
        company=lead.company,
        lead=lead,
        owner=lead.owner,
        stage=stage,
        amount=amount,
        expected_close_date=expected_close_date,
        created_at=at,
    )


def company_name_clean(name: str) -> str:
    """A company's name as stored: runs of spaces collapsed, ends stripped. Pages, the
    API and the import all store names through here."""
    return " ".join(name.split())


def company_name_taken(*, name: str, exclude_pk: int | None = None) -> Company | None:
    """The company already called `name` (cleaned), without regard to case, if any: the
    oldest one, as company_get_or_create and the import pick it."""
    others = Company.objects.filter(name__iexact=company_name_clean(name))
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    return others.order_by("pk").first()


@transaction.atomic
def company_get_or_create(*, name: str) -> Company:
    """The company called `name`, matched without regard to case, or a new one.

    Call it inside the transaction of the write that uses it, so a deal or lead that fails
    validation leaves no orphan company behind.
    """
    name = company_name_clean(name)
    if not name:
        raise ValidationError({"company": "Enter the company's name."})
    company = company_name_taken(name=name)
    if company is not None:
        return company
    try:
        # A savepoint: a concurrent request may create the same name between our read and
        # our insert; the unique constraint then fails and we read its row instead.
        with transaction.atomic():
            return Company.objects.create(name=name)
    except IntegrityError:
        company = company_name_taken(name=name)
        if company is None:
            raise
        return company
