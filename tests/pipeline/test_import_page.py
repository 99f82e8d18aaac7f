"""The import page: who may upload what, a small file imported at once, a large one run by
a Celery task (eagerly here; tests/metrics/test_worker.py runs a real worker) with its
progress shown, bad rows listed by line, and jobs private to their uploader."""

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Team, User
from pipeline.import_jobs import _progress_key
from pipeline.models import Deal, ImportJob
from salesperf.celery import app as celery_app

pytestmark = pytest.mark.django_db

HEADER = (
    "external_id,name,company,owner,stage,amount,created_at,closed_at,"
    "expected_close_date,lead_source,product\n"
)


def deals_csv(*rows: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("deals.csv", (HEADER + "".join(rows)).encode(), "text/csv")


def good_row(external_id: str = "X-1", owner: str = "rep") -> str:
    return f"{external_id},Acme deal,Acme,{owner},Won,1500,2026-01-05,2026-02-01,,Web,\n"


@pytest.fixture
def eager_celery():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def upload(client, file, kind="deals", **extra):
    return client.post(reverse("pipeline:import"), {"kind": kind, "file": file, **extra})


def test_reps_cannot_import(client, rep):
    client.force_login(rep)
    assert client.get(reverse("pipeline:import")).status_code == 403
    assert upload(client, deals_csv(good_row())).status_code == 403
    assert not Deal.objects.exists()


def test_a_manager_imports_deals_for_their_team_and_sees_the_outcome(client, manager, rep):
    client.force_login(manager)
    page = client.get(reverse("pipeline:import"))
    assert page.status_code == 200
    assert [value for value, _ in page.context["form"].fields["kind"].choices] == ["deals"]

    response = upload(client, deals_csv(good_row()))
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("pipeline:import-job", args=[job.pk])
    assert job.status == ImportJob.Status.DONE
    assert bytes(job.content) == b""  # the bytes are dropped once imported
    deal = Deal.objects.get()
    assert (deal.external_id, deal.owner, deal.amount, deal.stage.name) == (
        "X-1",
        rep,
        1500,
        "Won",
    )
    page = client.get(response["Location"])
    assert "1 row read: 1 created, 0 updated, 0 unchanged" in page.content.decode()
    assert "hx-trigger" not in page.content.decode()  # finished: no more polling


def test_a_manager_cannot_import_deals_of_another_team(client, manager, rep, outsider_rep):
    client.force_login(manager)
    upload(client, deals_csv(good_row("X-1"), good_row("X-2", owner="outsider_rep")))
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.REJECTED
    assert not Deal.objects.exists()
    [error] = job.result["errors"]
    assert (error["line"], error["column"]) == (3, "owner")
    page = client.get(reverse("pipeline:import-job", args=[job.pk])).content.decode()
    assert "Nothing was imported" in page
    assert '<td class="num">3</td><td>owner</td>' in page


def test_skip_invalid_imports_the_good_rows_and_lists_the_rest(client, admin_user, rep):
    client.force_login(admin_user)
    bad = "X-2,Broken,Acme,rep,Won,-5,2026-01-05,2026-02-01,,,\n"
    upload(client, deals_csv(good_row("X-1"), bad), skip_invalid="on")
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.DONE
    assert (job.result["created"], job.result["skipped"], job.result["error_count"]) == (1, 1, 1)
    assert list(Deal.objects.values_list("external_id", flat=True)) == ["X-1"]


def test_a_file_that_is_not_utf8_csv_is_refused_with_a_message(client, admin_user, rep):
    client.force_login(admin_user)
    latin1 = SimpleUploadedFile(
        "deals.csv", (HEADER + good_row()).replace("Acme", "Böhm").encode("latin-1")
    )
    upload(client, latin1)
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.REJECTED
    assert job.message
    page = client.get(reverse("pipeline:import-job", args=[job.pk])).content.decode()
    assert job.message.split("'")[0] in page
    assert not Deal.objects.exists()


def test_admins_import_people_and_managers_may_not(client, admin_user, manager):
    people = SimpleUploadedFile(
        "people.csv",
        b"username,full_name,email,role,team,parent_team\r\n"
        b"ana,Ana Silva,ana@example.com,manager,Lisbon,Europe\r\n"
        b"rui,Rui Costa,rui@example.com,rep,Lisbon,Europe\r\n",
    )
    client.force_login(manager)
    response = upload(client, people, kind="reps")
    assert response.status_code == 200
    assert "kind" in response.context["form"].errors
    assert not User.objects.filter(username="ana").exists()

    client.force_login(admin_user)
    people.seek(0)
    upload(client, people, kind="reps")
    assert ImportJob.objects.get().status == ImportJob.Status.DONE
    lisbon = Team.objects.get(name="Lisbon")
    assert (lisbon.parent.name, lisbon.manager.username) == ("Europe", "ana")
    assert not User.objects.get(username="rui").has_usable_password()


def test_a_large_file_runs_as_a_task_and_the_page_follows_it(
    client, manager, rep, settings, eager_celery, django_capture_on_commit_callbacks
):
    settings.IMPORT_INLINE_MAX_BYTES = 10
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = upload(client, deals_csv(good_row()))
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.QUEUED and not Deal.objects.exists()
    assert len(callbacks) == 1  # the task is sent once the job row is committed

    # While queued or running, the page polls and shows the progress the worker reports.
    cache.set(_progress_key(job.pk), (500, 1000))
    page = client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert "500 of 1000 rows" in page
    assert page.lstrip().startswith('<section id="import-status"')  # only the part

    callbacks[0]()  # the worker's turn (eager)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert Deal.objects.get().external_id == "X-1"
    assert cache.get(_progress_key(job.pk)) is None


def test_a_job_is_private_to_its_uploader_and_admins(client, manager, admin_user, rep, db):
    client.force_login(manager)
    upload(client, deals_csv(good_row()))
    job = ImportJob.objects.get()
    other_manager = User.objects.create(username="south_boss", role="manager")
    client.force_login(other_manager)
    assert client.get(reverse("pipeline:import-job", args=[job.pk])).status_code == 404
    client.force_login(admin_user)
    assert client.get(reverse("pipeline:import-job", args=[job.pk])).status_code == 200


def test_an_oversized_file_is_a_form_error(client, admin_user, settings):
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    client.force_login(admin_user)
    big = SimpleUploadedFile("deals.csv", HEADER.encode() + b"x" * (1024 * 1024 + 1))
    response = upload(client, big)
    assert response.status_code == 200
    assert "over 1 MB" in str(response.context["form"].errors["file"])
    assert not ImportJob.objects.exists()


def test_one_bad_line_is_counted_as_one_bad_row(client, admin_user, rep):
    client.force_login(admin_user)
    # Line 3 has four problems (name, owner, stage, amount); lines 2 and 4 are fine.
    bad = "X-2,,Acme,nobody,Nowhere,lots,2026-01-05,,,Web,\n"
    upload(client, deals_csv(good_row("X-1"), bad, good_row("X-3")))
    job = ImportJob.objects.get()
    page = client.get(reverse("pipeline:import-job", args=[job.pk])).content.decode()

    assert job.status == ImportJob.Status.REJECTED
    assert {error["line"] for error in job.result["errors"]} == {3}
    assert "4 problems in 1 of the 3 rows read." in page


def test_a_manager_is_told_the_one_kind_they_import_not_offered_a_radio(client, manager):
    client.force_login(manager)
    page = client.get(reverse("pipeline:import")).content.decode()

    assert 'type="radio"' not in page
    assert "What the file holds: <strong>Deals</strong>" in page
    assert '<input type="hidden" name="kind" value="deals"' in page


def test_an_admin_chooses_between_people_and_deals(client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("pipeline:import")).content.decode()

    assert page.count('type="radio" name="kind"') == 2


@pytest.mark.parametrize("persona", ["rep", "manager"])
def test_the_import_format_is_a_page_of_the_app(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("pipeline:import-format"))
    page = response.content.decode()

    assert response.status_code == 200
    assert "external_id, name, company, owner, stage, amount" in page
    assert "username, full_name, email, role, team, parent_team" in page
    assert "Prospecting, Qualification, Proposal, Negotiation, Won, Lost" in page
    # Only those who may import get the button to do it.
    assert (reverse("pipeline:import") in page) == (persona == "manager")


def test_the_import_page_links_the_format_page_not_a_repository_path(client, manager):
    client.force_login(manager)
    page = client.get(reverse("pipeline:import")).content.decode()

    assert f'href="{reverse("pipeline:import-format")}"' in page
    assert "docs/import.md" not in page


def test_anonymous_visitors_are_sent_to_log_in_for_the_format(client):
    response = client.get(reverse("pipeline:import-format"))

    assert response.status_code == 302 and reverse("login") in response["Location"]
