"""The targets endpoint: who reads which targets, who sets them, and that every write
goes through targets_set and so leaves its history (simple-history, read as the target
history page reads it)."""

import datetime as dt
from decimal import Decimal

import pytest

from metrics.models import Target
from metrics.targets import target_changes, target_history_entries
from tests.api.conftest import url
from tests.factories import TargetFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db
Q1 = {"period_kind": "quarter", "period_start": "2026-01-01"}


def recorded() -> list:
    """The target audit trail, oldest first."""
    return list(reversed(target_history_entries(target_changes(team_ids=None))))


def ids(client, **params) -> set[int]:
    response = client.get(url("target-list"), params)
    assert response.status_code == 200, response.json()
    return {target["id"] for target in response.json()["results"]}


def test_a_target_reads_as_documented(as_user, rep, rep_target):
    body = as_user(rep).get(url("target-detail", rep_target.pk)).json()
    assert body == {
        "id": rep_target.pk,
        "scope": "user",
        "user": rep.pk,
        "team": None,
        "metric": "revenue",
        "period_kind": "quarter",
        "period_start": "2026-10-01",
        "period_end": "2026-12-31",
        "value": "100000.00",
        "set_by": None,
        "updated_at": body["updated_at"],
    }


def test_a_rep_reads_their_own_and_their_teams_targets(
    as_user, rep, other_rep, outsider_rep, team, other_team, region
):
    own = TargetFactory(user=rep)
    team_target = TargetFactory(user=None, team=team)
    TargetFactory(user=other_rep)
    TargetFactory(user=outsider_rep)
    TargetFactory(user=None, team=other_team)
    TargetFactory(user=None, team=region)
    assert ids(as_user(rep)) == {own.pk, team_target.pk}


def test_a_manager_reads_their_tree_and_an_admin_everything(
    as_user, manager, rep, outsider_rep, team, region, admin_user
):
    mine = {TargetFactory(user=rep).pk, TargetFactory(user=None, team=team).pk}
    sub_team = TeamFactory(name="Team North East", parent=team)
    mine.add(TargetFactory(user=None, team=sub_team).pk)
    theirs = {TargetFactory(user=outsider_rep).pk, TargetFactory(user=None, team=region).pk}
    assert ids(as_user(manager)) == mine
    assert ids(as_user(admin_user)) == mine | theirs


def test_a_manager_sets_a_target_for_their_rep_with_history(as_user, manager, rep):
    response = as_user(manager).post(
        url("target-list"), {"user": rep.pk, "value": "50000", **Q1}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["scope"], body["value"], body["set_by"]) == ("user", "50000.00", manager.pk)
    assert body["period_end"] == "2026-03-31"
    [change] = recorded()
    assert (change.user, change.changed_by) == (rep, manager)
    assert (change.old_value, change.new_value) == (None, Decimal("50000.00"))


def test_a_manager_sets_a_team_target(as_user, manager, team):
    response = as_user(manager).post(
        url("target-list"),
        {"team": team.pk, "metric": "deals_won", "value": "12", **Q1},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Target.objects.get().metric == "deals_won"


def test_a_manager_may_not_set_another_teams_targets(as_user, manager, outsider_rep, other_team):
    client = as_user(manager)
    response = client.post(
        url("target-list"), {"user": outsider_rep.pk, "value": "1", **Q1}, format="json"
    )
    assert response.json() == {"user": ["Not one of your people."]}
    response = client.post(
        url("target-list"), {"team": other_team.pk, "value": "1", **Q1}, format="json"
    )
    assert response.json() == {"team": ["Not one of your teams."]}
    assert not Target.objects.exists()


def test_a_rep_reads_but_never_sets_targets(as_user, rep, rep_target):
    client = as_user(rep)
    response = client.post(url("target-list"), {"user": rep.pk, "value": "1", **Q1}, format="json")
    assert response.status_code == 403
    response = client.patch(url("target-detail", rep_target.pk), {"value": "1"}, format="json")
    assert response.status_code == 403
    assert client.delete(url("target-detail", rep_target.pk)).status_code == 403
    rep_target.refresh_from_db()
    assert rep_target.value == Decimal("100000.00")
    assert len(recorded()) == 1  # the factory's creation, nothing since


def test_changing_a_value_keeps_the_history(as_user, manager, rep_target):
    client = as_user(manager)
    response = client.patch(url("target-detail", rep_target.pk), {"value": "120000"}, format="json")
    assert response.status_code == 200
    assert response.json()["value"] == "120000.00"
    response = client.put(url("target-detail", rep_target.pk), {"value": "130000"}, format="json")
    assert response.json()["value"] == "130000.00"
    changes = [(change.old_value, change.new_value) for change in recorded()[1:]]
    assert changes == [
        (Decimal("100000.00"), Decimal("120000.00")),
        (Decimal("120000.00"), Decimal("130000.00")),
    ]


def test_only_the_value_of_a_target_changes(as_user, manager, rep_target, other_rep):
    response = as_user(manager).patch(
        url("target-detail", rep_target.pk), {"user": other_rep.pk}, format="json"
    )
    assert response.json() == {"user": ["Unknown field."]}


def test_clearing_a_target_keeps_its_last_value_in_the_history(as_user, manager, rep_target):
    assert as_user(manager).delete(url("target-detail", rep_target.pk)).status_code == 204
    assert not Target.objects.exists()
    change = recorded()[-1]
    assert (change.old_value, change.new_value) == (Decimal("100000.00"), None)


def test_a_target_is_created_once(as_user, manager, rep):
    existing = TargetFactory(user=rep, period_kind="quarter", period_start=dt.date(2026, 1, 1))
    response = as_user(manager).post(
        url("target-list"), {"user": rep.pk, "value": "1", **Q1}, format="json"
    )
    assert response.status_code == 409
    assert f"targets/{existing.pk}/" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": "1", **Q1}, "non_field_errors"),
        ({"value": "1", "period_kind": "quarter", "period_start": "2026-02-01"}, "period_start"),
        ({"value": "1", "period_kind": "month", "period_start": "1800-01-01"}, "period_start"),
        ({"value": "-1", **Q1}, "value"),
        ({"value": "1000000000000", **Q1}, "value"),
        ({"value": "1.234", **Q1}, "value"),
        ({"value": "1", "period_kind": "week", "period_start": "2026-01-01"}, "period_kind"),
    ],
)
def test_bad_targets_are_refused_naming_the_field(as_user, manager, rep, body, field):
    if field != "non_field_errors":
        body = {"user": rep.pk, **body}
    response = as_user(manager).post(url("target-list"), body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_target_for_both_a_user_and_a_team_is_refused(as_user, manager, rep, team):
    response = as_user(manager).post(
        url("target-list"), {"user": rep.pk, "team": team.pk, "value": "1", **Q1}, format="json"
    )
    assert response.json() == {"non_field_errors": ["Give a user or a team, not both."]}


def test_filters(as_user, admin_user, rep, team):
    user_q1 = TargetFactory(user=rep, period_kind="quarter", period_start=dt.date(2026, 1, 1))
    user_jan = TargetFactory(user=rep, period_kind="month", period_start=dt.date(2026, 1, 1))
    team_q2 = TargetFactory(
        user=None, team=team, period_kind="quarter", period_start=dt.date(2026, 4, 1)
    )
    client = as_user(admin_user)
    assert ids(client, scope="team") == {team_q2.pk}
    assert ids(client, scope="user") == {user_q1.pk, user_jan.pk}
    assert ids(client, user=rep.pk, period_kind="month") == {user_jan.pk}
    assert ids(client, team=team.pk) == {team_q2.pk}
    assert ids(client, period_start_after="2026-02-01") == {team_q2.pk}
    assert ids(client, period_start_before="2026-01-01") == {user_q1.pk, user_jan.pk}
    assert ids(client, metric="deals_won") == set()


@pytest.mark.parametrize("size", [3, 30])
def test_the_list_costs_a_fixed_number_of_queries(
    as_user, manager, team, size, django_assert_max_num_queries
):
    for _ in range(size):
        TargetFactory(user=UserFactory(team=team), set_by=manager)
    client = as_user(manager)
    with django_assert_max_num_queries(4):
        response = client.get(url("target-list"), {"page_size": 100})
    assert len(response.json()["results"]) == size


def test_a_manager_cannot_set_their_own_target(as_user, manager, region_manager):
    """The targets page offers no cell for oneself; the API refuses it the same way (403:
    the manager sees their own target, so it is not a 404), on create, change and clear."""
    client = as_user(manager)
    response = client.post(
        url("target-list"), {"user": manager.pk, "value": "1000000", **Q1}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "You cannot set your own target; your manager or an admin does."
    }
    assert not Target.objects.exists()
    own = TargetFactory(user=manager, value=Decimal("500000"))
    response = client.patch(url("target-detail", own.pk), {"value": "9000000"}, format="json")
    assert response.status_code == 403
    assert client.delete(url("target-detail", own.pk)).status_code == 403
    own.refresh_from_db()
    assert own.value == Decimal("500000.00")
    # The one above does set it.
    response = as_user(region_manager).patch(
        url("target-detail", own.pk), {"value": "600000"}, format="json"
    )
    assert response.status_code == 200, response.json()
