"""CSV in and out: deal and people exports (with the list's filters, within what the
user may see) and the import page, which runs small files at once and hands large ones to
a Celery worker whose progress the page follows."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import Capability, can, get_visible_or_404

from .exports import deal_csv_lines, rep_csv_lines
from .filters import DealFilter
from .forms import ImportForm
from .import_jobs import (
    can_import,
    import_job_create,
    import_job_enqueue,
    import_job_progress,
    import_job_run,
    import_jobs_for,
)
from .models import ImportJob
from .selectors import deal_list_for, default_pipeline_stages, people_for_export

RECENT_JOBS = 10


def _csv_response(lines, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


@login_required
@require_GET
def deal_export(request: HttpRequest) -> StreamingHttpResponse:
    """The deals of the list page, with its filters, in import_csv's columns."""
    deal_filter = DealFilter(
        request.GET, queryset=deal_list_for(user=request.user), request=request
    )
    return _csv_response(deal_csv_lines(deal_filter.qs), "deals")


@login_required
@require_GET
def people_export(request: HttpRequest) -> StreamingHttpResponse:
    """Reps and managers with their teams, for managers (their tree) and admins."""
    if not can(request.user, Capability.EXPORT_PEOPLE):
        raise PermissionDenied("Only managers and admins export people.")
    return _csv_response(rep_csv_lines(people_for_export(user=request.user)), "people")


def _import_kinds(user) -> list[tuple[str, str]]:
    """Deals first: the upload people make most."""
    kinds = [ImportJob.Kind.DEALS, ImportJob.Kind.REPS]
    return [(kind, kind.label) for kind in kinds if can_import(user, kind)]


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    kinds = _import_kinds(request.user)
    if not kinds:
        raise PermissionDenied("Only managers and admins import data.")
    form = ImportForm(
        request.POST or None,
        request.FILES or None,
        kinds=kinds,
        max_bytes=settings.IMPORT_MAX_BYTES,
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = import_job_create(
            kind=form.cleaned_data["kind"],
            name=upload.name,
            content=upload.read(),
            skip_invalid=form.cleaned_data["skip_invalid"],
            by=request.user,
        )
        if job.file_size <= settings.IMPORT_INLINE_MAX_BYTES:
            import_job_run(job.pk)
        else:
            import_job_enqueue(job)
        return redirect("pipeline:import-job", pk=job.pk)
    jobs = import_jobs_for(user=request.user).filter(created_by=request.user)[:RECENT_JOBS]
    return render(request, "pipeline/import_upload.html", {"form": form, "jobs": jobs})


@login_required
@require_GET
def import_format(request: HttpRequest) -> HttpResponse:
    """The import's file formats, for anyone signed in: the page users are pointed to,
    where docs/import.md is a path in the repository they cannot open."""
    context = {
        "may_import": bool(_import_kinds(request.user)),
        "stages": [stage.name for stage in default_pipeline_stages()],
        "time_zone": settings.TIME_ZONE,
    }
    return render(request, "pipeline/import_format.html", context)


@login_required
@require_GET
def import_job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A job's outcome; while it runs, htmx asks for the status part again every second."""
    job = get_visible_or_404(import_jobs_for(user=request.user), request.user, pk=pk)
    progress = None if job.is_finished else import_job_progress(job)
    context = {"job": job, "progress": progress, "result": job.result or {}}
    if request.htmx:
        return render(request, "pipeline/_import_status.html", context)
    return render(request, "pipeline/import_job.html", context)
