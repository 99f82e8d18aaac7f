"""The reps' pages: deals (list, board, one page to view and edit, close, quick add) and
leads (list, add, status, convert).

Every object is loaded through visible_to(user): one the user cannot see is a 404, one
they can see but not edit is a 403 (accounts.access). Writes go through services;
a service's ValidationError becomes a form error next to its field, never a 500.
"""

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page
from django.db import transaction
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import Capability, can, visible_parts

from .choices import LeadStatus, StageKind
from .deadlines import past_close_warning
from .filters import Column, DealFilter, LeadFilter
from .forms import (
    LOST_REASONS,
    DealCloseForm,
    DealForm,
    DealMoveForm,
    LeadConvertForm,
    LeadForm,
    LeadStatusForm,
    QuickAddForm,
)
from .models import DEAL_SORT_INDEXES, Deal, Lead
from .pagination import CappedPaginator, JoinedWalks, MergedWalks, count_cap
from .selectors import (
    board_move_for,
    closing_stage,
    deal_board_for,
    deal_change_history,
    deal_for_page,
    deal_history,
    deal_list_for,
    deal_list_totals,
    deal_to_move,
    deals_made_from,
    lead_for_page,
    lead_ids_editable_by,
    lead_list_for,
    lead_possible_duplicate,
)
from .services import (
    DealConflict,
    company_get_or_create,
    company_name_taken,
    deal_delete,
    deal_move_to_stage,
    deal_save,
    lead_convert,
    lead_delete,
    lead_save,
    lead_set_status,
)
from .services import deal_create as deal_create_service
from .submissions import (
    FIELD,
    REFUSED,
    TWICE,
    AlreadySubmitted,
    Kind,
    form_token_nonce,
    submit_once,
)

PAGE_SIZE = 25
# Query parameters that order or page a list rather than narrow it.
_NOT_FILTERS = ("page", "sort", "ordering")
BOARD_CARDS_PER_COLUMN = 50


# --- Helpers ----------------------------------------------------------------------------


def _sees_team(user) -> bool:
    """Managers and admins see other people's rows, so lists show an owner column."""
    return can(user, Capability.SEE_TEAM)


def _deal_or_404(request: HttpRequest, pk: int) -> Deal:
    deal = deal_for_page(user=request.user, pk=pk)
    if deal is None:
        raise Http404("No deal you can see has this number.")
    return deal


def _editable_deal(request: HttpRequest, pk: int, *, for_move: bool = False) -> Deal:
    deal = (
        deal_to_move(user=request.user, pk=pk)
        if for_move
        else deal_for_page(user=request.user, pk=pk)
    )
    if deal is None:
        raise Http404("No deal you can see has this number.")
    if not can(request.user, "change", deal):
        raise PermissionDenied("You can see this deal but not change it.")
    return deal


def _editable_lead(request: HttpRequest, pk: int) -> Lead:
    lead = lead_for_page(user=request.user, pk=pk)
    if lead is None:
        raise Http404("No lead you can see has this number.")
    if not can(request.user, "change", lead):
        raise PermissionDenied("You can see this lead but not change it.")
    return lead


def _add_service_errors(form: Form, error: ValidationError, rename: dict[str, str]) -> None:
    """Show a service's ValidationError on the form, next to the field it is about."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, field_errors in error.message_dict.items():
        name = rename.get(field, field)
        form.add_error(name if name in form.fields else None, field_errors)


def _save_with_company(form: Form, obj: Deal | Lead, save: Callable[[], object]) -> bool:
    """Attach the typed company (found or created) and save, in one transaction: a row
    that fails validation leaves no new company behind."""
    company_name = form.cleaned_data.get("company_name", "").strip()
    try:
        with transaction.atomic():
            obj.company = company_get_or_create(name=company_name) if company_name else None
            save()
    except DealConflict:
        raise  # the page shows the deal as it is now, not a field error
    except ValidationError as error:
        _add_service_errors(form, error, {"company": "company_name"})
        return False
    return True


def _form_nonce(request: HttpRequest, form: Form, kind: str) -> str | None:
    """The one-time token of a POSTed create form (pipeline.submissions); a missing token
    or one issued to someone else is a form error and nothing is saved."""
    if request.method != "POST":
        return None
    nonce = form_token_nonce(token=request.POST.get(FIELD), user=request.user, kind=kind)
    if nonce is None:
        form.add_error(None, REFUSED)
    return nonce


def _once(request: HttpRequest, kind: str, nonce: str | None, save: Callable[[], Any]):
    """`save` run at most once for the form's token (raises AlreadySubmitted after)."""
    assert nonce is not None  # _form_nonce made the form invalid without one
    return lambda: submit_once(nonce=nonce, user=request.user, kind=kind, save=save)


def _kept_token(request: HttpRequest, nonce: str | None) -> str | None:
    """The token a re-shown form keeps (a fresh one is issued when it had none valid)."""
    return request.POST.get(FIELD) if nonce else None


def _create_deal(form: Form, request: HttpRequest, nonce: str | None, **fields) -> Deal | None:
    """A new deal through deal_create (its defaults are the API's and the import's), at
    the typed company, at most once for the form's token (AlreadySubmitted after); None,
    with the errors next to their fields, when it is refused."""
    company_name = form.cleaned_data.get("company_name", "")
    create = _once(
        request,
        Kind.DEAL,
        nonce,
        lambda: deal_create_service(by=request.user, company_name=company_name, **fields),
    )
    try:
        return create()
    except ValidationError as error:
        _add_service_errors(form, error, {"company": "company_name"})
        return None


def _past_close_warning(deal: Deal, *, before: Deal | None = None) -> str:
    """The warning for a deal just saved with a past expected close: a new deal's, or an
    edited one's when the date was changed ("" otherwise)."""
    if before is not None and before.expected_close_date == deal.expected_close_date:
        return ""
    return past_close_warning(
        expected_close_date=deal.expected_close_date, stage_kind=deal.stage.kind
    )


def _warn_past_close(request: HttpRequest, deal: Deal, *, before: Deal | None = None) -> None:
    if warning := _past_close_warning(deal, before=before):
        messages.warning(request, warning)


def _next_url(request: HttpRequest, default: str) -> str:
    """Where to go back to after a POST from a plain form: a same-site `next`, else default."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _sort_headers(columns: tuple[Column, ...], current: str, *, team: bool) -> list[dict]:
    """The table's headers, from the FilterSet's columns: each sortable one links to its
    next order (asc, then desc)."""
    headers = []
    for column in columns:
        if not column.shown or (column.css == "team-only" and not team):
            continue
        key = column.key
        header = {"label": column.label, "css": column.css, "sort": None, "direction": ""}
        if column.fields:
            header["sort"] = f"-{key}" if current == key else key
            header["direction"] = {key: "asc", f"-{key}": "desc"}.get(current, "")
        headers.append(header)
    return headers


def _filter_errors(list_filter: DealFilter | LeadFilter, *, team: bool) -> list[str]:
    """The errors of the filters the page's form does not show, for a line above the list."""
    shown = [name for name in list_filter.page_fields if team or name != "owner"]
    return list_filter.errors_outside(shown)


def _count_cap() -> int:
    """The lists' count cap (LIST_COUNT_CAP), at least a page and a row."""
    return max(count_cap(), PAGE_SIZE + 1)


def _page(request: HttpRequest, queryset, *, counted: int | None = None) -> Page:
    """The requested page (a bad or out-of-range number gives the first or last one), with
    the page numbers to link: 1 2 … 7 8 9 … 40. The count stops at the cap (pipeline.
    pagination): `paginator.capped` then says there are more than `paginator.count`."""
    paginator = CappedPaginator(queryset, PAGE_SIZE, cap=_count_cap(), counted=counted)
    page = paginator.get_page(request.GET.get("page"))
    page.elided_range = list(
        page.paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1)
    )
    return page


# --- Deals ------------------------------------------------------------------------------


@login_required
@require_GET
def deal_list(request: HttpRequest) -> HttpResponse:
    """My deals (a manager's: the team's), filtered, searched, sorted and paginated."""
    deal_filter = DealFilter(
        request.GET, queryset=deal_list_for(user=request.user), request=request
    )
    deals = deal_filter.qs
    totals = deal_list_totals(deals, cap=_count_cap())
    team = _sees_team(request.user)
    parts = visible_parts(Deal, request.user)
    walks = MergedWalks(deals, parts, walkable=set(DEAL_SORT_INDEXES), user=request.user)
    context = {
        "filter": deal_filter,
        "filter_errors": _filter_errors(deal_filter, team=team),
        "page_obj": _page(
            request,
            JoinedWalks(deals, parts, fallback=walks, user=request.user),
            counted=totals["counted"],
        ),
        "totals": totals,
        "filtered": any(value for key, value in request.GET.items() if key not in _NOT_FILTERS),
        "headers": _sort_headers(DealFilter.columns, request.GET.get("sort", ""), team=team),
        "show_owner": team,
    }
    return render(request, "pipeline/deal_list.html", context)


def _board_context(request: HttpRequest, *, error: str = "") -> dict:
    columns = deal_board_for(user=request.user, per_column=BOARD_CARDS_PER_COLUMN)
    return {
        "columns": columns,
        "has_deals": any(column.count for column in columns),
        "show_owner": _sees_team(request.user),
        "board_error": error,
    }


@login_required
@require_GET
def deal_board(request: HttpRequest) -> HttpResponse:
    """Open deals by stage; cards move with buttons or drag and drop (static/js/board.js)."""
    template = "pipeline/_board.html" if request.htmx else "pipeline/deal_board.html"
    return render(request, template, _board_context(request))


@login_required
@require_http_methods(["GET", "POST"])
def deal_create(request: HttpRequest) -> HttpResponse:
    """A new deal on one page; errors show next to their fields and nothing is written."""
    form = DealForm(request.POST if request.method == "POST" else None, user=request.user)
    nonce = _form_nonce(request, form, Kind.DEAL)
    if form.is_valid():
        data = form.cleaned_data
        try:
            deal = _create_deal(
                form,
                request,
                nonce,
                name=data["name"],
                owner=data.get("owner"),
                stage=data["stage"],
                amount=data["amount"],
                expected_close_date=data["expected_close_date"],
                product=data["product"],
            )
        except AlreadySubmitted as done:  # a double submit: show the deal the first saved
            messages.info(request, TWICE)
            return redirect("pipeline:deal-detail", pk=done.object_id)
        if deal is not None:
            messages.success(request, f"Deal “{deal.name}” added.")
            _warn_past_close(request, deal)
            return redirect("pipeline:deal-detail", pk=deal.pk)
    context = {"form": form, "submit_token": _kept_token(request, nonce)}
    return render(request, "pipeline/deal_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def deal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One page to see a deal, edit it, move or close it, and read its history.

    The form carries the version it was loaded at: if someone saved the deal since, nothing
    is written and the page answers 409 with the deal as it is now and the typed values
    kept in the form (with the new version, so saving again is a deliberate overwrite)."""
    deal = _deal_or_404(request, pk)
    editable = can(request.user, "change", deal)
    form, conflict = None, None
    if request.method == "POST":
        if not editable:
            raise PermissionDenied("You can see this deal but not change it.")
        # A copy: a rejected edit must not show in the page's header as if saved.
        form = DealForm(request.POST, instance=copy.copy(deal), user=request.user)
        if form.is_valid():
            edited = form.save(commit=False)
            version = form.cleaned_data.get("version")
            try:
                saved = _save_with_company(
                    form,
                    edited,
                    lambda: deal_save(deal=edited, by=request.user, expected_version=version),
                )
            except DealConflict:
                deal = _deal_or_404(request, pk)
                conflict = deal
                data = request.POST.copy()
                data["version"] = str(deal.version)
                form = DealForm(data, instance=copy.copy(deal), user=request.user)
            else:
                if saved:
                    messages.success(request, "Changes saved.")
                    _warn_past_close(request, edited, before=deal)
                    return redirect("pipeline:deal-detail", pk=deal.pk)
    elif editable:
        form = DealForm(instance=copy.copy(deal), user=request.user)
    stages = list(deal.stage.pipeline.stages.order_by("order"))
    open_stages = [stage for stage in stages if stage.kind == StageKind.OPEN]
    later = [stage for stage in open_stages if stage.order > deal.stage.order]
    context = {
        "deal": deal,
        "form": form,
        "conflict": conflict,
        "editable": editable,
        "history": deal_history(deal=deal),
        "changes": deal_change_history(deal=deal),
        "stages": stages,
        "open_stages": open_stages,
        "next_stage": later[0] if later else None,
        "won_form": DealCloseForm(deal=deal, initial={"outcome": "won"}, auto_id="won_%s"),
        "lost_form": DealCloseForm(deal=deal, initial={"outcome": "lost"}, auto_id="lost_%s"),
        "lost_reasons": LOST_REASONS,
    }
    status = 409 if conflict is not None else 200
    return render(request, "pipeline/deal_detail.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def deal_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a deal after a confirmation step. It is hidden everywhere, not erased: an
    admin can restore it from the admin."""
    deal = _editable_deal(request, pk)
    if request.method == "POST":
        deal_delete(deal=deal, by=request.user)
        messages.success(request, f"Deal “{deal.name}” deleted. An admin can restore it.")
        return redirect("pipeline:deal-list")
    context = {
        "object": deal,
        "kind": "deal",
        "cancel_url": reverse("pipeline:deal-detail", args=[deal.pk]),
    }
    return render(request, "pipeline/confirm_delete.html", context)


@login_required
@require_POST
def deal_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a deal to another open stage. From the board (htmx) the answer is what the move
    changed on the board (pipeline/_board_moved.html), or the whole board with the reason
    of a refused move; otherwise a redirect back."""
    deal = _editable_deal(request, pk, for_move=True)
    form = DealMoveForm(request.POST, deal=deal)
    error = ""
    moved_from = deal.stage_id
    if form.is_valid():
        try:
            deal_move_to_stage(
                deal=deal,
                stage=form.cleaned_data["stage"],
                by=request.user,
                expected_version=form.cleaned_data.get("version"),
            )
        except ValidationError as problem:
            error = " ".join(problem.messages)
    else:
        error = "Pick one of the pipeline's open stages; to close a deal, mark it won or lost."
    if request.htmx and not error:
        # What the move changed on the board, swapped into the page out of band: two
        # cards to draw and two heads, where redrawing both columns was up to 100 cards.
        move = board_move_for(
            user=request.user,
            card=deal,
            from_stage_id=moved_from,
            per_column=BOARD_CARDS_PER_COLUMN,
        )
        if move is not None:
            context = {"move": move, "show_owner": _sees_team(request.user)}
            response = render(request, "pipeline/_board_moved.html", context)
            response["HX-Reswap"] = "none"
            return response
    if request.htmx:
        # 200 even for a refused move: htmx swaps only successful answers, and the board
        # must come back as it is, with the reason shown above the columns.
        return render(request, "pipeline/_board.html", _board_context(request, error=error))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"“{deal.name}” moved to {deal.stage.name}.")
    return redirect(_next_url(request, reverse("pipeline:deal-board")))


@login_required
@require_http_methods(["GET", "POST"])
def deal_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a deal won (amount, close date) or lost (reason) in one step."""
    deal = _editable_deal(request, pk)
    outcome = request.POST.get("outcome") or request.GET.get("outcome") or StageKind.WON
    if outcome not in (StageKind.WON, StageKind.LOST):
        outcome = StageKind.WON
    next_url = _next_url(request, "")
    data = request.POST if request.method == "POST" else None
    form = DealCloseForm(data, deal=deal, initial={"outcome": outcome})
    if form.is_valid():
        stage = closing_stage(pipeline_id=deal.stage.pipeline_id, kind=outcome)
        try:
            if stage is None:
                raise ValidationError(f"This pipeline has no {outcome} stage.")
            deal_move_to_stage(
                deal=deal,
                stage=stage,
                by=request.user,
                at=form.closed_at(),
                amount=form.cleaned_data["amount"] if outcome == StageKind.WON else None,
                lost_reason=form.cleaned_data["lost_reason"].strip(),
                expected_version=form.cleaned_data.get("version"),
            )
        except ValidationError as error:
            # The service moved the deal in memory before refusing: show it as stored.
            deal = _editable_deal(request, pk)
            if isinstance(error, DealConflict):
                # Submitting again is a deliberate choice made on the current version.
                data = request.POST.copy()
                data["version"] = str(deal.version)
                form = DealCloseForm(data, deal=deal, initial={"outcome": outcome})
                form.is_valid()
            _add_service_errors(form, error, {"closed_at": "closed_on"})
        else:
            verb = "won. Well done!" if outcome == StageKind.WON else "marked lost."
            messages.success(request, f"“{deal.name}” {verb}")
            return redirect(next_url or reverse("pipeline:deal-detail", args=[deal.pk]))
    context = {
        "deal": deal,
        "form": form,
        "outcome": outcome,
        "next": next_url,
        "lost_reasons": LOST_REASONS,
    }
    return render(request, "pipeline/deal_close.html", context)


@login_required
@require_POST
def deal_quick_add(request: HttpRequest) -> HttpResponse:
    """Name, company, amount, expected close: a deal of the user's in their first stage.
    htmx gets the quick-add partial back (errors, or a success line and an empty form)."""
    form = QuickAddForm(request.POST)
    created = None
    nonce = _form_nonce(request, form, Kind.DEAL)
    if form.is_valid():
        data = form.cleaned_data
        try:
            created = _create_deal(
                form,
                request,
                nonce,
                name=data["name"],
                amount=data["amount"],
                expected_close_date=data["expected_close_date"],
            )
        except AlreadySubmitted as done:  # a double submit: show the deal the first saved
            if not request.htmx:
                messages.info(request, TWICE)
                return redirect("pipeline:deal-detail", pk=done.object_id)
            created = deal_for_page(user=request.user, pk=done.object_id)
        if created is not None:
            form, nonce = QuickAddForm(), None
    if not request.htmx and created is not None:
        messages.success(request, f"Deal “{created.name}” added.")
        _warn_past_close(request, created)
        return redirect("pipeline:deal-detail", pk=created.pk)
    context = {
        "quick_add_form": form,
        "quick_add_deal": created,
        "quick_add_warning": _past_close_warning(created) if created is not None else "",
        "quick_add_token": _kept_token(request, nonce),
    }
    template = "pipeline/_quick_add.html" if request.htmx else "pipeline/deal_quick_add.html"
    return render(request, template, context)


# --- Leads ------------------------------------------------------------------------------


def _lead_row_context(request: HttpRequest, lead: Lead, editable: bool, **extra) -> dict:
    return {"lead": lead, "can_edit": editable, **extra}


# The lead list's sorts read group by group (pipeline.pagination.JoinedWalks); by company
# PostgreSQL walks the company names and each one's leads already.
LEAD_JOINED_KEYS = {"owner", "source"}


@login_required
@require_GET
def lead_list(request: HttpRequest) -> HttpResponse:
    """Leads by status and source, searchable, paginated; each row qualifies, disqualifies
    or converts its lead in place."""
    lead_filter = LeadFilter(
        request.GET, queryset=lead_list_for(user=request.user), request=request
    )
    # A manager's parts are read only when the page is walked by a joined sort.
    leads = lead_filter.qs
    parts = partial(visible_parts, Lead, request.user)
    page_obj = _page(request, JoinedWalks(leads, parts, user=request.user, keys=LEAD_JOINED_KEYS))
    team = _sees_team(request.user)
    editable = lead_ids_editable_by(user=request.user, leads=page_obj)
    made = deals_made_from(user=request.user, leads=page_obj)
    rows = [
        _lead_row_context(request, lead, lead.pk in editable, made_deal=made.get(lead.pk))
        for lead in page_obj
    ]
    context = {
        "filter": lead_filter,
        "filter_errors": _filter_errors(lead_filter, team=team),
        "page_obj": page_obj,
        "rows": rows,
        "filtered": any(value for key, value in request.GET.items() if key not in _NOT_FILTERS),
        "headers": _sort_headers(LeadFilter.columns, request.GET.get("sort", ""), team=team),
        "show_owner": team,
        # Row forms come back here, filters and page kept, when htmx is off.
        "next_url": request.get_full_path(),
    }
    return render(request, "pipeline/lead_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def lead_create(request: HttpRequest) -> HttpResponse:
    """Add a lead; a rep's lead is theirs, a manager may give it to someone on the team."""
    form = LeadForm(request.POST if request.method == "POST" else None, user=request.user)
    nonce = _form_nonce(request, form, Kind.LEAD)
    duplicate = None
    if form.is_valid() and "add_anyway" not in request.POST:
        # A lead at the same company with the same email: asked once, "Add anyway" saves.
        duplicate = lead_possible_duplicate(
            user=request.user,
            company=company_name_taken(name=form.cleaned_data["company_name"]),
            email=form.cleaned_data.get("contact_email", ""),
        )
    if form.is_valid() and duplicate is None:
        lead = form.save(commit=False)
        try:
            saved = _save_with_company(
                form,
                lead,
                _once(request, Kind.LEAD, nonce, lambda: lead_save(lead=lead, by=request.user)),
            )
            if saved:
                messages.success(request, f"Lead at {lead.company.name} added.")
        except AlreadySubmitted:  # a double submit: the first one's answer (the list)
            saved = True
            messages.info(request, TWICE)
        if saved:
            if "add_another" in request.POST:
                return redirect("pipeline:lead-create")
            return redirect("pipeline:lead-list")
    context = {
        "form": form,
        "submit_token": _kept_token(request, nonce),
        "duplicate": duplicate,
        "add_another": "add_another" in request.POST,
    }
    return render(request, "pipeline/lead_form.html", context)


@login_required
@require_POST
def lead_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Work, qualify or disqualify (with a reason) a lead; htmx gets its row back."""
    lead = _editable_lead(request, pk)
    form = LeadStatusForm(request.POST)
    if form.is_valid():
        try:
            lead_set_status(
                lead=lead, status=form.cleaned_data["status"], reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            _add_service_errors(form, error, {"disqualified_reason": "reason"})
    if request.htmx:
        lead.refresh_from_db(fields=["status", "disqualified_reason"])
        context = _lead_row_context(
            request,
            lead,
            True,  # _editable_lead said so
            status_form=form,
            show_owner=_sees_team(request.user),
            next_url=request.htmx.current_url_abs_path or reverse("pipeline:lead-list"),
        )
        return render(request, "pipeline/_lead_row.html", context)
    if form.errors:
        messages.error(request, " ".join(" ".join(errors) for errors in form.errors.values()))
    else:
        messages.success(
            request, f"Lead at {lead.company.name} is now {lead.get_status_display()}."
        )
    return redirect(_next_url(request, reverse("pipeline:lead-list")))


@login_required
@require_http_methods(["GET", "POST"])
def lead_convert_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Turn a lead into a deal (name, amount, expected close), then open the deal."""
    lead = _editable_lead(request, pk)
    initial = {"deal_name": f"{lead.company.name} deal"}
    form = LeadConvertForm(request.POST if request.method == "POST" else None, initial=initial)
    convertible = lead.status not in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED)
    if form.is_valid():
        try:
            deal = lead_convert(
                lead=lead,
                deal_name=form.cleaned_data["deal_name"],
                amount=form.cleaned_data["amount"],
                expected_close_date=form.cleaned_data["expected_close_date"],
                by=request.user,
            )
        except ValidationError as error:
            lead.refresh_from_db()
            _add_service_errors(form, error, {"name": "deal_name"})
        else:
            messages.success(request, f"Lead converted: “{deal.name}” is in {deal.stage.name}.")
            _warn_past_close(request, deal)
            return redirect("pipeline:deal-detail", pk=deal.pk)
    existing = lead.deals.order_by("pk").first() if lead.status == LeadStatus.CONVERTED else None
    context = {"lead": lead, "form": form, "convertible": convertible, "deal": existing}
    return render(request, "pipeline/lead_convert.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def lead_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a lead after a confirmation step: hidden everywhere, restorable by an admin.
    Deals made from it stay."""
    lead = _editable_lead(request, pk)
    if request.method == "POST":
        lead_delete(lead=lead, by=request.user)
        messages.success(request, f"Lead at {lead.company.name} deleted. An admin can restore it.")
        return redirect(_next_url(request, reverse("pipeline:lead-list")))
    context = {
        "object": lead,
        "kind": "lead",
        "cancel_url": _next_url(request, reverse("pipeline:lead-list")),
        "next": _next_url(request, ""),
    }
    return render(request, "pipeline/confirm_delete.html", context)
