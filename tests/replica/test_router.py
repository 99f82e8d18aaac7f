"""Read-your-own-writes against a real streaming replica made stale on purpose (WAL replay
paused): a request that wrote reads the primary, the page after a POST's redirect too,
while a read-only request reads the replica and so sees only what it has replayed."""

import json

import pytest
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse
from rest_framework.test import APIClient

from pipeline.models import Company, Deal
from salesperf.db_router import PIN_COOKIE
from tests.factories import CompanyFactory, DealFactory
from tests.pipeline.test_double_submit import deal_data, page_token
from tests.replica.conftest import as_new_request, pause_replay, resume_replay, wait_for_replica

pytestmark = [
    pytest.mark.replica,
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]


def found(name: str) -> bool:
    return Company.objects.filter(name=name).exists()


def write_then_read(request: HttpRequest) -> JsonResponse:
    Company.objects.create(name=request.POST["name"])
    return JsonResponse({"found": found(request.POST["name"])})


def read(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"found": found(request.GET["name"])})


urlpatterns = [path("write/", write_then_read), path("read/", read)]


def on_replica(name: str) -> bool:
    return Company.objects.using("replica").filter(name=name).exists()


@pytest.mark.urls(__name__)
def test_a_request_that_writes_then_reads_sees_its_write_on_a_stale_replica(client):
    pause_replay()
    response = client.post("/write/", {"name": "Fresh Co"})
    assert response.json() == {"found": True}
    assert not on_replica("Fresh Co")  # the replica really is behind
    assert PIN_COOKIE in response.cookies


@pytest.mark.urls(__name__)
def test_a_read_only_request_reads_the_replica_and_sees_it_stale_while_paused(client):
    pause_replay()
    CompanyFactory(name="Unseen Co")  # committed on the primary
    assert client.get("/read/", {"name": "Unseen Co"}).json() == {"found": False}
    resume_replay()
    wait_for_replica()
    assert client.get("/read/", {"name": "Unseen Co"}).json() == {"found": True}


def test_reads_inside_an_atomic_block_read_the_primary():
    pause_replay()
    CompanyFactory(name="Atomic Co")

    def outside_and_inside() -> tuple[bool, bool]:
        outside = found("Atomic Co")
        with transaction.atomic():
            inside = found("Atomic Co")
        return outside, inside

    assert as_new_request(outside_and_inside) == (False, True)


def test_the_page_after_a_posts_redirect_shows_what_the_post_wrote(client, rep):
    client.force_login(rep)
    url = reverse("pipeline:deal-create")
    data = deal_data(page_token(client, url))
    wait_for_replica()  # the form's token is on the replica
    pause_replay()
    client.cookies.pop(PIN_COOKIE, None)  # the POST starts like any request: on the replica

    posted = client.post(url, data)

    assert posted.status_code == 302
    deal = Deal.objects.using("default").get()
    assert posted["Location"] == reverse("pipeline:deal-detail", args=[deal.pk])
    assert not Deal.objects.using("replica").exists()
    page = client.get(posted["Location"])  # with the pin cookie the POST set
    assert page.status_code == 200
    assert deal.name in page.content.decode()
    # The same page without the cookie reads the stale replica: no such deal yet.
    client.cookies.pop(PIN_COOKIE)
    assert client.get(posted["Location"]).status_code == 404
    resume_replay()
    wait_for_replica()
    assert client.get(posted["Location"]).status_code == 200


def test_the_api_reads_the_replica(rep):
    api = APIClient()
    api.force_authenticate(rep)
    url = reverse("deal-list")
    pause_replay()
    deal = DealFactory(owner=rep, name="Replayed later")
    assert json.loads(api.get(url).content)["count"] == 0
    resume_replay()
    wait_for_replica()
    assert [d["id"] for d in api.get(url).json()["results"]] == [deal.pk]


def test_a_token_fresh_from_the_token_endpoint_works_at_once_on_a_stale_replica(rep):
    rep.set_password("a-long-password-1")
    rep.save()
    wait_for_replica()
    pause_replay()
    api = APIClient()
    answer = api.post(
        reverse("api-token"), {"username": "rep", "password": "a-long-password-1"}, format="json"
    )
    assert answer.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {answer.json()['token']}")
    assert api.get(reverse("deal-list")).status_code == 200  # the token is read on the primary
