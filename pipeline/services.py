"""Every write to leads and deals. Pages, admin, API and imports all come through here,
so that a stage move always leaves a StageChange and the won/lost rules always hold."""

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .choices import LeadStatus, StageKind
from .models import Company, Deal, Lead, Stage, StageChange
from .selectors import first_open_stage


@transaction.atomic
def deal_save(*, deal: Deal, by=None, at: dt.datetime | None = None) -> Deal:
    """Validate and save a new or edited deal; record a StageChange if the stage moved.

    The move is dated `at`, or the deal's closed_at when it closes, or now. The deal's team
    follows its owner while open and is frozen when the deal closes.
    """
    previous_stage_id = None
    if deal.pk is not None:
        # Lock the row: two moves of one deal at once must both land in the history.
        previous_stage_id = (
            Deal.objects.select_for_update().filter(pk=deal.pk).values_list("stage_id", flat=True)
        ).first()
    moved = deal.pk is not None and previous_stage_id != deal.stage_id
    if deal.stage.kind == StageKind.OPEN or deal.team_id is None or moved:
        deal.team_id = deal.owner.team_id
    deal.full_clean()
    deal.save()
    if moved:
        if at is None:
            at = deal.closed_at if deal.stage.kind != StageKind.OPEN else timezone.now()
        StageChange.objects.create(
            deal=deal,
            from_stage_id=previous_stage_id,
            to_stage=deal.stage,
            changed_at=at,
            changed_by=by,
        )
    return deal


def deal_move_to_stage(
    *,
    deal: Deal,
    stage: Stage,
    by=None,
    at: dt.datetime | None = None,
    amount: Decimal | None = None,
    lost_reason: str = "",
) -> Deal:
    """Move a deal to a stage: closing sets closed_at (to `at`, default now), reopening
    clears it. A move to the stage it is already in changes nothing."""
    if stage.pk == deal.stage_id:
        return deal
    if stage.pipeline_id != deal.stage.pipeline_id:
        raise ValidationError({"stage": "That stage belongs to another pipeline."})
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
    return deal_save(deal=deal, by=by, at=at)


@transaction.atomic
def lead_save(*, lead: Lead) -> Lead:
    """Validate and save a new or edited lead; a new lead counts for its owner's team."""
    if lead.team_id is None:
        lead.team_id = lead.owner.team_id
    lead.full_clean()
    lead.save()
    return lead


@transaction.atomic
def lead_set_status(*, lead: Lead, status: str, reason: str = "") -> Lead:
    """Work, qualify or disqualify a lead; converting goes through lead_convert."""
    if status == LeadStatus.CONVERTED:
        raise ValidationError({"status": "Convert a lead with lead_convert, which makes its deal."})
    if lead.status == LeadStatus.CONVERTED:
        raise ValidationError({"status": "A converted lead cannot change status."})
    lead.status = status
    lead.disqualified_reason = reason if status == LeadStatus.DISQUALIFIED else ""
    lead.full_clean()
    lead.save()
    return lead


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    deal_name: str = "",
    amount: Decimal = Decimal("0"),
    stage: Stage | None = None,
    expected_close_date: dt.date | None = None,
    by=None,
    at: dt.datetime | None = None,
) -> Deal:
    """Turn a lead into a deal at the first open stage (or `stage`) of the default pipeline."""
    if lead.status in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED):
        status = lead.get_status_display().lower()
        raise ValidationError({"status": f"A {status} lead cannot be converted."})
    at = at or timezone.now()
    stage = stage or first_open_stage()
    if stage.kind != StageKind.OPEN:
        raise ValidationError({"stage": "A new deal starts in an open stage."})
    lead.status = LeadStatus.CONVERTED
    lead.converted_at = at
    lead.full_clean()
    lead.save()
    deal = Deal(
        name=deal_name or f"{lead.company.name} deal",
        company=lead.company,
        lead=lead,
        owner=lead.owner,
        stage=stage,
        amount=amount,
        expected_close_date=expected_close_date,
        created_at=at,
    )
    return deal_save(deal=deal, by=by)


@transaction.atomic
def company_get_or_create(*, name: str) -> Company:
    """The company called `name`, matched without regard to case, or a new one.

    Call it inside the transaction of the write that uses it, so a deal or lead that fails
    validation leaves no orphan company behind.
    """
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"company": "Enter the company's name."})
    company = Company.objects.filter(name__iexact=name).order_by("pk").first()
    if company is not None:
        return company
    try:
        # A savepoint: a concurrent request may create the same name between our read and
        # our insert; the unique constraint then fails and we read its row instead.
        with transaction.atomic():
            return Company.objects.create(name=name)
    except IntegrityError:
        company = Company.objects.filter(name__iexact=name).order_by("pk").first()
        if company is None:
            raise
        return company
