"""Optimistic locking: a deal carries a version raised by every save; an edit made from an
older version is refused with a clear message (a 409 in the API), never a silent
overwrite, and nothing is written."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from pipeline.models import Deal, StageChange
from pipeline.services import DealConflict, deal_move_to_stage, deal_save
from tests.factories import DealFactory, default_stage

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(rep):
    return DealFactory(owner=rep, name="Acme", amount=Decimal("100.00"))


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def someone_edits(deal: Deal, user) -> Deal:
    """Someone saves a change to the deal (a save that changes nothing writes nothing and
    keeps the version)."""
    other = Deal.objects.get(pk=deal.pk)
    other.amount += 1
    return deal_save(deal=other, by=user)


def form(page, **values) -> dict:
    """The edit form as the page rendered it (hidden version included), with `values`."""
    bound = page.context["form"]
    names = [
        name
        for name in ("name", "company_name", "amount", "owner", "version")
        if name in bound.fields
    ]
    data = {name: bound[name].value() for name in names}
    data = {name: "" if value is None else value for name, value in data.items()}
    return {**data, **values}


def test_the_second_of_two_page_edits_gets_a_conflict_and_the_first_stays(deal, rep, manager):
    detail = reverse("pipeline:deal-detail", args=[deal.pk])
    first, second = signed_in(rep), signed_in(manager)
    first_page, second_page = first.get(detail), second.get(detail)
    assert 'name="version"' in first_page.content.decode()

    assert (
        first.post(detail, form(first_page, name="Acme – 50 seats", amount="500")).status_code
        == 302
    )
    response = second.post(detail, form(second_page, name="Acme – 10 seats", amount="90"))

    assert response.status_code == 409
    page = response.content.decode()
    assert "Someone else changed this deal since you opened it" in page
    assert "your changes were not saved" in page
    assert "Acme – 50 seats" in page  # their values are shown
    assert response.context["form"]["name"].value() == "Acme – 10 seats"  # ours are kept
    deal.refresh_from_db()
    assert (deal.name, deal.amount, deal.version) == ("Acme – 50 seats", Decimal("500.00"), 2)


def test_saving_again_after_the_conflict_is_a_deliberate_overwrite(deal, rep, manager):
    detail = reverse("pipeline:deal-detail", args=[deal.pk])
    first, second = signed_in(rep), signed_in(manager)
    first_page, second_page = first.get(detail), second.get(detail)
    first.post(detail, form(first_page, name="Theirs"))
    conflict = second.post(detail, form(second_page, name="Mine"))
    assert conflict.status_code == 409
    assert second.post(detail, form(conflict, name="Mine")).status_code == 302
    deal.refresh_from_db()
    assert (deal.name, deal.version) == ("Mine", 3)


def test_a_stale_close_form_is_refused(client, deal, rep):
    client.force_login(rep)
    someone_edits(deal, rep)  # version 2
    response = client.post(
        reverse("pipeline:deal-close", args=[deal.pk]),
        {"outcome": "won", "amount": "100", "version": 1},
    )
    assert response.status_code == 200
    assert "Someone else changed this deal" in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage == default_stage("Prospecting")


def test_a_stale_move_is_refused(client, deal, rep):
    client.force_login(rep)
    someone_edits(deal, rep)
    response = client.post(
        reverse("pipeline:deal-move", args=[deal.pk]),
        {"stage": default_stage("Proposal").pk, "version": 1},
        follow=True,
    )
    assert "Someone else changed this deal" in response.content.decode()
    assert not StageChange.objects.filter(deal=deal).exists()


def test_the_service_writes_nothing_on_a_conflict(deal, rep):
    first = Deal.objects.get(pk=deal.pk)
    first.amount = Decimal("200.00")
    saved = deal_save(deal=first, by=rep, expected_version=1)
    assert saved.version == 2
    history = Deal.history.filter(id=deal.pk).count()
    stale = Deal.objects.get(pk=deal.pk)
    stale.name = "Late"
    with pytest.raises(DealConflict) as error:
        deal_save(deal=stale, by=rep, expected_version=1)
    assert error.value.current.version == 2
    with pytest.raises(DealConflict):
        deal_move_to_stage(deal=stale, stage=default_stage("Proposal"), expected_version=1)
    deal.refresh_from_db()
    assert (deal.name, deal.version) == ("Acme", 2)
    assert Deal.history.filter(id=deal.pk).count() == history


# --- API ------------------------------------------------------------------------------------


def test_api_the_second_of_two_patches_from_the_same_version_is_a_409(deal, rep, manager):
    url = f"/api/v1/deals/{deal.pk}/"
    first, second = signed_in(rep), signed_in(manager)
    assert first.get(url).json()["version"] == 1
    answer = first.patch(url, {"amount": "500.00", "version": 1}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["version"] == 2
    answer = second.patch(url, {"amount": "90.00", "version": 1}, content_type="application/json")
    assert answer.status_code == 409
    assert "Someone else changed this deal" in answer.json()["detail"]
    deal.refresh_from_db()
    assert (deal.amount, deal.version) == (Decimal("500.00"), 2)


def test_api_a_stale_move_is_a_409(deal, rep):
    client = signed_in(rep)
    someone_edits(deal, rep)
    answer = client.post(
        f"/api/v1/deals/{deal.pk}/move/",
        {"stage": default_stage("Proposal").pk, "version": 1},
        content_type="application/json",
    )
    assert answer.status_code == 409
    assert not StageChange.objects.filter(deal=deal).exists()


def test_api_without_a_version_the_last_write_wins(deal, rep):
    client = signed_in(rep)
    someone_edits(deal, rep)
    answer = client.patch(
        f"/api/v1/deals/{deal.pk}/", {"name": "Blind"}, content_type="application/json"
    )
    assert answer.status_code == 200 and answer.json()["version"] == 3


def test_api_version_is_read_only_on_create(rep):
    answer = signed_in(rep).post(
        "/api/v1/deals/", {"name": "New", "version": 5}, content_type="application/json"
    )
    assert answer.status_code == 400
    assert answer.json() == {"version": ["This field is read-only."]}


# --- Two real connections (PostgreSQL) ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_connections_saving_the_same_version_at_once_one_wins(rep):
    if connection.vendor != "postgresql":
        pytest.skip("row locks (select_for_update) need PostgreSQL")
    deal = DealFactory(owner=rep, name="Race")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def save(name: str) -> None:
        try:
            mine = Deal.objects.get(pk=deal.pk)
            mine.name = name
            start.wait()
            deal_save(deal=mine, by=rep, expected_version=1)
            outcomes.append("saved")
        except DealConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(name,)) for name in ("One", "Two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "saved"]
    deal.refresh_from_db()
    assert deal.version == 2 and deal.name in ("One", "Two")
    assert Deal.history.filter(id=deal.pk, history_type="~").count() == 1
