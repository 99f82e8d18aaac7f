"""The targets grid (metrics:targets) and its history (metrics:target-history).

Personas (tests/conftest.py): `manager` runs Team North (`rep`, `other_rep`); Team South
(`outsider_rep`) is its sibling under Region, run by `region_manager`; `admin_user` sees all.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts.choices import Role
from metrics.choices import PeriodKind
from metrics.models import Target
from metrics.services import TargetCell, targets_set
from metrics.targets import parse_amount, target_changes, target_history_entries
from tests.factories import TargetFactory, UserFactory

pytestmark = pytest.mark.django_db

Q1, Q2, Q3, Q4 = (dt.date(2026, month, 1) for month in (1, 4, 7, 10))
GRID = reverse("metrics:targets") + "?kind=quarter&year=2026"
HISTORY = reverse("metrics:target-history")


def cell(owner, start: dt.date) -> str:
    kind = "user" if hasattr(owner, "username") else "team"
    return f"t-{kind}-{owner.pk}-{start.isoformat()}"


def values(**filters) -> dict:
    """(owner name, period start) -> value of the revenue targets matching `filters`."""
    return {
        (str(t.user or t.team), t.period_start): t.value
        for t in Target.objects.filter(**filters).select_related("user", "team")
    }


def recorded(**filters) -> list:
    """The target audit trail as the history page reads it, newest first."""
    return target_history_entries(target_changes(team_ids=None).filter(**filters))


def counts() -> tuple[int, int]:
    return Target.objects.count(), len(recorded())


@pytest.fixture
def north(manager, rep, other_rep, team):
    """Team North with its manager and two reps, and its manager signed in."""
    return team


# --- Saving ---------------------------------------------------------------------------------


def test_manager_sets_team_and_rep_targets_for_several_quarters_in_one_post(
    client, manager, north, rep, other_rep
):
    client.force_login(manager)
    response = client.post(
        GRID,
        {
            cell(north, Q1): "100000",
            cell(north, Q2): "120000",
            cell(rep, Q1): "40000",
            cell(rep, Q2): "45000.50",
            cell(other_rep, Q1): "60000",
            cell(other_rep, Q3): "",  # empty and never set: no change
        },
    )
    assert response.status_code == 302
    assert response["Location"] == GRID
    assert values() == {
        ("Team North", Q1): Decimal("100000.00"),
        ("Team North", Q2): Decimal("120000.00"),
        (str(rep), Q1): Decimal("40000.00"),
        (str(rep), Q2): Decimal("45000.50"),
        (str(other_rep), Q1): Decimal("60000.00"),
    }
    assert set(Target.objects.values_list("period_kind", "metric", "set_by")) == {
        ("quarter", "revenue", manager.pk)
    }
    page = client.get(GRID).content.decode()
    assert "Saved 5 changes." in page
    assert 'value="45,000.5"' in page  # thousands grouped for reading


def test_editing_changes_only_what_changed_and_records_who_and_old_and_new(
    client, manager, north, rep, other_rep
):
    client.force_login(manager)
    client.post(GRID, {cell(north, Q1): "100000", cell(rep, Q1): "40000", cell(rep, Q2): "1"})
    before = {t.pk: t.updated_at for t in Target.objects.all()}
    # The whole grid comes back, as a browser without JavaScript posts it: one edit only.
    form = {cell(owner, q): "" for owner in (north, rep, other_rep) for q in (Q1, Q2, Q3, Q4)}
    form |= {cell(north, Q1): "100000.00", cell(rep, Q1): "42000", cell(rep, Q2): "1"}
    response = client.post(GRID, form, follow=True)
    assert "Saved 1 change." in response.content.decode()
    assert values()[(str(rep), Q1)] == Decimal("42000.00")
    [edited] = recorded(user=rep, period_start=Q1, old_value__isnull=False)
    assert (edited.old_value, edited.new_value) == (Decimal("40000.00"), Decimal("42000.00"))
    assert edited.changed_by == manager
    assert edited.period_kind == PeriodKind.QUARTER
    assert len(recorded()) == 4  # three created, one edited
    untouched = Target.objects.exclude(user=rep, period_start=Q1)
    assert all(t.updated_at == before[t.pk] for t in untouched)


def test_clearing_a_cell_deletes_the_target_and_records_it(client, manager, north, rep):
    TargetFactory(user=rep, period_start=Q3, value=Decimal("30000"))
    client.force_login(manager)
    response = client.post(GRID, {cell(rep, Q3): "  "}, follow=True)
    assert "Saved 1 change." in response.content.decode()
    assert not Target.objects.exists()
    change = recorded()[0]  # newest first: the clearing, after the factory's creation
    assert (change.user, change.old_value, change.new_value) == (rep, Decimal("30000.00"), None)
    assert change.changed_by == manager


def test_saving_nothing_changed_writes_nothing(client, manager, north, rep):
    TargetFactory(user=rep, period_start=Q1, value=Decimal("30000"))
    client.force_login(manager)
    response = client.post(GRID, {cell(rep, Q1): "30000", cell(rep, Q2): ""}, follow=True)
    assert "Nothing to save" in response.content.decode()
    assert len(recorded()) == 1  # the factory's creation, nothing since


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("-5", "Cannot be negative."),
        ("abc", "Enter a number."),
        ("NaN", "Enter a number."),
        ("1e400", "Too large: at most 12 digits."),
        ("1000000000000", "Too large: at most 12 digits."),
        ("12.345", "At most 2 decimals."),
    ],
)
def test_a_bad_cell_shows_its_error_and_nothing_is_saved(
    client, manager, north, rep, other_rep, typed, error
):
    TargetFactory(user=rep, period_start=Q1, value=Decimal("30000"))
    client.force_login(manager)
    before = counts()
    response = client.post(
        GRID, {cell(north, Q1): "90000", cell(rep, Q1): "", cell(other_rep, Q2): typed}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert error in page
    assert "Nothing was saved." in page
    assert f'aria-describedby="{cell(other_rep, Q2)}-error"' in page
    # What was typed stays on the page, the good cells too.
    assert 'value="90000"' in page
    assert counts() == before
    assert values() == {(str(rep), Q1): Decimal("30000.00")}


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("", None),
        ("  ", None),
        ("0", Decimal("0.00")),
        ("1250000", Decimal("1250000.00")),
        (" 1,250,000.5 ", Decimal("1250000.50")),
        ("1 250 000", Decimal("1250000.00")),
        ("999999999999.99", Decimal("999999999999.99")),
        ("1e3", Decimal("1000.00")),
    ],
)
def test_typed_amounts_are_read_as_numbers(typed, value):
    assert parse_amount(typed) == value


@pytest.mark.parametrize("typed", ["1,5", "12,34,567", "1_0", "0x10", "Infinity", "--1", "1.2.3"])
def test_ambiguous_or_odd_amounts_are_refused(typed):
    with pytest.raises(ValueError, match="Enter a number."):
        parse_amount(typed)


@pytest.mark.parametrize("outside", ["outsider_rep", "other_team", "region", "admin_user"])
def test_a_crafted_cell_outside_the_managers_tree_is_refused_and_nothing_is_saved(
    client, request, manager, north, rep, outside
):
    owner = request.getfixturevalue(outside)
    client.force_login(manager)
    before = counts()
    response = client.post(GRID, {cell(rep, Q1): "40000", cell(owner, Q1): "1"})
    assert response.status_code == 200
    assert "outside your teams" in response.content.decode()
    assert counts() == before


@pytest.mark.parametrize(
    "name",
    ["t-user-{rep}-2026-02-01", "t-user-{rep}-2025-01-01", "t-user-{rep}-2026-13-01", "t-nope"],
)
def test_a_crafted_cell_off_the_grid_is_refused(client, manager, north, rep, name):
    client.force_login(manager)
    response = client.post(GRID, {cell(rep, Q1): "40000", name.format(rep=rep.pk): "1"})
    assert "nothing was saved" in response.content.decode()
    assert counts() == (0, 0)


def test_the_service_refuses_a_manager_setting_targets_outside_the_tree(
    manager, north, rep, outsider_rep
):
    with pytest.raises(PermissionDenied):
        targets_set(
            by=manager,
            changes=[
                TargetCell(PeriodKind.QUARTER, Q1, Decimal(1), user_id=rep.pk),
                TargetCell(PeriodKind.QUARTER, Q1, Decimal(1), user_id=outsider_rep.pk),
            ],
        )
    with pytest.raises(PermissionDenied):
        targets_set(by=rep, changes=[TargetCell(PeriodKind.QUARTER, Q1, None, user_id=rep.pk)])
    assert counts() == (0, 0)


# --- Who sees what --------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_log_in(client):
    assert client.get(GRID)["Location"].startswith(reverse("login"))


def test_a_rep_may_not_open_or_post_the_targets_pages(client, rep):
    client.force_login(rep)
    assert client.get(GRID).status_code == 403
    assert client.post(GRID, {cell(rep, Q1): "1000000"}).status_code == 403
    assert client.get(HISTORY).status_code == 403
    assert counts() == (0, 0)


def test_the_grid_lists_the_team_then_its_reps(client, manager, north, rep, other_rep):
    UserFactory(username="gone", first_name="Gone", team=north, is_active=False)
    client.force_login(manager)
    page = client.get(GRID).content.decode()
    assert page.index("Team North") < page.index(str(rep)) < page.index(str(other_rep))
    assert "Gone" not in page
    assert page.count('class="row-team') == 1
    assert "Sum of reps" in page
    assert 'inputmode="decimal"' in page
    assert "Save targets" in page


def test_a_manager_cannot_see_or_pick_another_team(
    client, manager, north, outsider_rep, other_team
):
    client.force_login(manager)
    for url in (GRID, f"{GRID}&team={other_team.pk}", f"{GRID}&team={north.parent_id}"):
        page = client.get(url).content.decode()
        assert str(outsider_rep) not in page
        assert "Team South" not in page
        assert "Team North" in page


def test_a_region_manager_sees_and_sets_both_teams(
    client, region_manager, north, other_team, rep, outsider_rep
):
    client.force_login(region_manager)
    page = client.get(GRID).content.decode()
    for name in ("Region", "Team North", "Team South", str(rep), str(outsider_rep)):
        assert name in page
    assert page.index("Region") < page.index("Team North") < page.index("Team South")
    assert "Sum of sub-teams" in page
    client.post(GRID, {cell(other_team, Q4): "500000", cell(outsider_rep, Q4): "250000"})
    assert Target.objects.count() == 2
    # The picker narrows the grid to one team of the tree.
    page = client.get(f"{GRID}&team={other_team.pk}").content.decode()
    assert str(outsider_rep) in page
    assert str(rep) not in page


def test_an_admin_sets_anyones_targets(client, admin_user, north, region, outsider_rep):
    client.force_login(admin_user)
    response = client.post(
        f"{GRID}&team={region.pk}", {cell(region, Q1): "1", cell(outsider_rep, Q1): "2"}
    )
    assert response.status_code == 302
    assert Target.objects.count() == 2


def test_month_and_year_views_have_their_periods(client, manager, north, rep):
    client.force_login(manager)
    month = client.get(reverse("metrics:targets") + "?kind=month&year=2027").content.decode()
    assert cell(rep, dt.date(2027, 12, 1)) in month
    assert month.count(f'name="t-user-{rep.pk}-') == 12
    client.post(
        reverse("metrics:targets") + "?kind=year&year=2027", {cell(rep, dt.date(2027, 1, 1)): "7"}
    )
    assert Target.objects.get().period_kind == PeriodKind.YEAR


@pytest.mark.parametrize(
    "query", ["?kind=decade&year=abc&team=x", "?year=99999", "?team=999999", "?year=-1"]
)
def test_bad_toolbar_values_fall_back_to_defaults(client, manager, north, rep, query):
    client.force_login(manager)
    response = client.get(reverse("metrics:targets") + query)
    assert response.status_code == 200
    assert cell(rep, dt.date(dt.date.today().year, 1, 1)) in response.content.decode()


# --- Query budgets --------------------------------------------------------------------------


@pytest.mark.parametrize("rep_count", [2, 20])
def test_query_count_does_not_grow_with_the_grid(
    client, manager, north, rep_count, django_assert_max_num_queries
):
    reps = UserFactory.create_batch(rep_count, team=north, role=Role.REP)
    for one in reps:
        TargetFactory(user=one, period_start=Q1)
    client.force_login(manager)
    # session, user, the tree (3), reps, targets
    with django_assert_max_num_queries(7):
        assert client.get(GRID).status_code == 200
    form = {cell(one, q): "5000" for one in reps for q in (Q1, Q2)}  # updates and creates
    form[cell(north, Q1)] = "1"
    # the same 7 reads, the permission check again (3), then one transaction: savepoint,
    # select for update, insert, update, audit-trail insert, release
    with django_assert_max_num_queries(16):
        assert client.post(GRID, form).status_code == 302
    assert len(recorded()) == rep_count + 2 * rep_count + 1  # the factory's, then the post's


# --- History --------------------------------------------------------------------------------


def test_history_lists_changes_newest_first_scoped_to_the_tree(
    client, manager, region_manager, north, other_team, rep, outsider_rep, admin_user
):
    targets_set(by=manager, changes=[TargetCell("quarter", Q1, Decimal(1000), user_id=rep.pk)])
    targets_set(by=manager, changes=[TargetCell("quarter", Q1, Decimal(1500), user_id=rep.pk)])
    targets_set(
        by=region_manager,
        changes=[TargetCell("month", dt.date(2026, 2, 1), Decimal(9), user_id=outsider_rep.pk)],
    )
    client.force_login(manager)
    page = client.get(HISTORY).content.decode()
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 2
    assert "+$500" in rows[0]  # newest first: 1,000 -> 1,500
    assert "New" in rows[1] and "$1,000" in rows[1]
    assert str(outsider_rep) not in page.split("<table")[1]
    client.force_login(region_manager)
    page = client.get(HISTORY).content.decode()
    assert "Feb 2026" in page
    assert "Q1 2026" in page
    filtered = client.get(HISTORY, {"owner": f"user-{outsider_rep.pk}"}).content.decode()
    assert "Q1 2026" not in filtered
    by_kind = client.get(HISTORY, {"kind": "quarter", "year": "2026"}).content.decode()
    assert "Feb 2026" not in by_kind
    assert "Q1 2026" in by_kind


def test_history_ignores_bad_filters(client, manager, north):
    client.force_login(manager)
    response = client.get(HISTORY, {"owner": "user-999", "kind": "x", "year": "y", "page": "z"})
    assert response.status_code == 200
    assert "No changes yet." in response.content.decode()


@pytest.mark.parametrize("change_count", [3, 60])
def test_history_query_count_is_bounded(
    client, manager, north, rep, change_count, django_assert_max_num_queries
):
    for n in range(change_count):
        targets_set(by=manager, changes=[TargetCell("quarter", Q1, Decimal(n + 1), user_id=rep.pk)])
    client.force_login(manager)
    # session, user, the tree (3), people for the filter, count, page
    with django_assert_max_num_queries(8):
        response = client.get(HISTORY)
    assert response.status_code == 200


def test_a_manager_without_a_team_gets_an_empty_page(client):
    loner = UserFactory(username="loner", team=None, role=Role.MANAGER)
    client.force_login(loner)
    response = client.get(GRID)
    assert response.status_code == 200
    assert "No team to set targets for." in response.content.decode()
    assert client.post(GRID, {"t-team-1-2026-01-01": "5"}).status_code == 200
    assert counts() == (0, 0)


def test_the_history_is_read_only_in_the_admin(client, admin_user, manager, north, rep):
    targets_set(by=manager, changes=[TargetCell("quarter", Q1, Decimal(1), user_id=rep.pk)])
    target = Target.objects.get()
    client.force_login(admin_user)
    page = client.get(reverse("admin:metrics_target_history", args=[target.pk]))
    assert page.status_code == 200
    assert str(manager) in page.content.decode() or manager.username in page.content.decode()
    # One audit trail: the TargetChange table and its admin are gone.
    from django.urls import NoReverseMatch

    with pytest.raises(NoReverseMatch):
        reverse("admin:metrics_targetchange_changelist")


def test_admin_edits_of_a_target_leave_history(client, admin_user, rep):
    from django.urls import reverse

    client.force_login(admin_user)
    add = client.post(
        reverse("admin:metrics_target_add"),
        {
            "user": rep.pk,
            "team": "",
            "metric": "revenue",
            "period_kind": "quarter",
            "period_start": "2026-01-01",
            "value": "5000",
        },
    )
    assert add.status_code == 302
    target = Target.objects.get(user=rep)
    client.post(
        reverse("admin:metrics_target_change", args=[target.pk]),
        {
            "user": rep.pk,
            "team": "",
            "metric": "revenue",
            "period_kind": "quarter",
            "period_start": "2026-01-01",
            "value": "7000",
        },
    )
    client.post(reverse("admin:metrics_target_delete", args=[target.pk]), {"post": "yes"})
    changes = reversed(recorded())
    assert [(c.old_value, c.new_value, c.changed_by) for c in changes] == [
        (None, Decimal("5000"), admin_user),
        (Decimal("5000"), Decimal("7000"), admin_user),
        (Decimal("7000"), None, admin_user),
    ]
    assert not Target.objects.exists()
