"""The one access module (accounts/access.py): every rule, asked as each persona would, and
a check that no other module reads a role itself."""

import ast
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts import access
from accounts.access import Capability, can, can_set_targets, get_visible_or_404, restrict
from accounts.models import Team, User
from metrics.models import KPISnapshot, Target
from pipeline.models import Deal, ImportJob
from tests.factories import DealFactory, KPISnapshotFactory, LeadFactory, TargetFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def names(queryset, field="username") -> set[str]:
    return set(queryset.values_list(field, flat=True))


def test_people_a_persona_sees(rep, other_rep, outsider_rep, manager, region_manager, admin_user):
    everyone = User.objects.all()
    assert names(restrict(everyone, rep)) == {"rep"}
    assert names(restrict(everyone, manager)) == {"rep", "other_rep", "manager"}
    assert names(restrict(everyone, region_manager)) == {
        "rep",
        "other_rep",
        "outsider_rep",
        "manager",
        "region_manager",
    }
    assert restrict(everyone, admin_user).count() == everyone.count()
    assert not restrict(everyone, AnonymousUser()).exists()


def test_teams_a_persona_sees(rep, manager, region_manager, outsider_rep, admin_user):
    teams = Team.objects.all()
    assert names(restrict(teams, rep), "name") == {"Team North"}
    assert names(restrict(teams, manager), "name") == {"Team North"}
    assert names(restrict(teams, region_manager), "name") == {
        "Region",
        "Team North",
        "Team South",
    }
    assert restrict(teams, admin_user).count() == 3


def test_a_deal_counts_for_its_team_even_after_its_owner_moved(rep, manager, outsider_rep):
    """The manager of the team a deal counts for keeps seeing it, whoever owns it now."""
    deal = DealFactory(owner=outsider_rep, team=rep.team, name="Moved")
    assert names(restrict(Deal.objects.all(), manager), "name") == {"Moved"}
    assert can(manager, "change", deal)
    assert not can(rep, "view", deal)


def test_targets_read_and_set(rep, other_rep, outsider_rep, manager, region_manager, admin_user):
    own = TargetFactory(user=rep)
    mates = TargetFactory(user=other_rep)
    team_target = TargetFactory(user=None, team=rep.team)
    managers_own = TargetFactory(user=manager)
    outsider = TargetFactory(user=outsider_rep)
    rows = Target.objects.all()
    # A rep reads their own and their team's, never a teammate's, and sets none.
    assert set(restrict(rows, rep)) == {own, team_target}
    assert not restrict(rows, rep, "change").exists()
    # A manager reads the tree's and their own; sets the tree's, never their own.
    assert set(restrict(rows, manager)) == {own, mates, team_target, managers_own}
    assert set(restrict(rows, manager, "change")) == {own, mates, team_target}
    assert not can(manager, "change", managers_own)
    # The region manager sets the team manager's target, and the sibling team's.
    assert set(restrict(rows, region_manager, "change")) == {
        own,
        mates,
        team_target,
        managers_own,
        outsider,
    }
    assert restrict(rows, admin_user, "change").count() == 5


def test_can_set_targets_for_cells_that_do_not_exist_yet(
    rep, outsider_rep, manager, region_manager, admin_user
):
    assert can_set_targets(manager, team_ids=[rep.team_id], user_ids=[rep.pk])
    assert not can_set_targets(manager, team_ids=[], user_ids=[manager.pk])
    assert not can_set_targets(manager, team_ids=[outsider_rep.team_id], user_ids=[])
    assert not can_set_targets(manager, team_ids=[], user_ids=[outsider_rep.pk])
    assert not can_set_targets(rep, team_ids=[], user_ids=[rep.pk])
    assert can_set_targets(region_manager, team_ids=[], user_ids=[manager.pk])
    assert can_set_targets(admin_user, team_ids=[outsider_rep.team_id], user_ids=[rep.pk])


def test_snapshots_follow_the_scopes(rep, other_rep, manager, admin_user):
    KPISnapshotFactory(scope_kind="org", scope_id=0)
    KPISnapshotFactory(scope_kind="team", scope_id=rep.team_id)
    KPISnapshotFactory(scope_kind="user", scope_id=rep.pk)
    KPISnapshotFactory(scope_kind="user", scope_id=other_rep.pk)
    rows = KPISnapshot.objects.all()
    assert set(restrict(rows, rep).values_list("scope_kind", "scope_id")) == {("user", rep.pk)}
    assert set(restrict(rows, manager).values_list("scope_kind", "scope_id")) == {
        ("team", rep.team_id),
        ("user", rep.pk),
        ("user", other_rep.pk),
    }
    assert restrict(rows, admin_user).count() == 4
    assert not restrict(rows, manager, "change").exists()


def test_import_jobs_are_their_uploaders(rep, manager, admin_user):
    job = ImportJob.objects.create(created_by=manager, kind="deals", content=b"", file_size=0)
    assert list(restrict(ImportJob.objects.all(), manager)) == [job]
    assert not restrict(ImportJob.objects.all(), rep).exists()
    assert list(restrict(ImportJob.objects.all(), admin_user)) == [job]


def test_missing_and_invisible_are_the_same_404(rep, other_rep):
    teammates = DealFactory(owner=other_rep)
    with pytest.raises(Http404) as invisible:
        get_visible_or_404(Deal.objects.all(), rep, pk=teammates.pk)
    with pytest.raises(Http404) as missing:
        get_visible_or_404(Deal.objects.all(), rep, pk=teammates.pk + 1000)
    assert str(invisible.value) == str(missing.value)
    with pytest.raises(Http404):
        get_visible_or_404(Deal.objects.all(), rep, pk="not a number")


def test_visible_but_not_changeable_is_a_403(rep):
    team_target = TargetFactory(user=None, team=rep.team)
    assert get_visible_or_404(Target.objects.all(), rep, pk=team_target.pk) == team_target
    with pytest.raises(PermissionDenied):
        get_visible_or_404(Target.objects.all(), rep, "change", pk=team_target.pk)


def test_scopes_are_404_whether_missing_or_hidden(rep, other_rep, manager, admin_user):
    assert access.scope_or_404(rep, "user", rep.pk) == rep
    for kind, scope_id in [("user", other_rep.pk), ("team", rep.team_id), ("org", None)]:
        with pytest.raises(Http404):
            access.scope_or_404(rep, kind, scope_id)
    with pytest.raises(Http404):
        access.scope_or_404(manager, "user", 10**9)
    assert access.scope_or_404(manager, "user", other_rep.pk) == other_rep
    assert access.scope_or_404(admin_user, "org", None) is None


def test_capabilities_by_role(rep, manager, admin_user):
    for capability in Capability:
        assert can(admin_user, capability)
        assert not can(rep, capability)
        assert not can(AnonymousUser(), capability)
    assert {c for c in Capability if can(manager, c)} == {
        Capability.SEE_TEAM,
        Capability.ASSIGN_OWNER,
        Capability.MANAGE_TARGETS,
        Capability.IMPORT_DEALS,
        Capability.EXPORT_PEOPLE,
    }


def test_a_deactivated_admin_can_do_nothing(admin_user):
    admin_user.is_active = False
    assert not can(admin_user, Capability.USE_ADMIN)
    assert not restrict(Deal.objects.all(), admin_user).exists()
    LeadFactory()
    assert not any(can(admin_user, c) for c in Capability)


def test_the_managers_tree_is_read_once_per_user(manager, django_assert_num_queries):
    access.managed_team_ids(manager)
    with django_assert_num_queries(0):
        access.managed_team_ids(manager)
        access.visible_team_ids(manager)


# --- The rule lives here only ---------------------------------------------------------------

ROLE_READS = re.compile(r"\.role\s*[!=]=|is_superuser|\bis_admin\(|\bis_manager\(")
APPS = ["accounts", "pipeline", "metrics", "periods", "salesperf", "api", "backups"]
# demo/ builds the demo organisation: its roles are data.
# Where a role is data, not a permission: the user model and its admin, the people import
# (a role column, and the rule that an import never overwrites an admin), the admin site.
ROLE_AS_DATA = {
    "accounts/access.py",
    "accounts/models.py",
    "accounts/admin.py",
    "pipeline/imports/reps.py",
}


def test_no_module_but_access_reads_a_role():
    offenders = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if relative in ROLE_AS_DATA or "/migrations/" in relative:
                continue
            source = path.read_text()
            ast.parse(source)
            offenders += [
                f"{relative}:{number}"
                for number, line in enumerate(source.splitlines(), 1)
                if ROLE_READS.search(line)
            ]
    assert offenders == []


def test_no_template_reads_a_role():
    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "templates").rglob("*.html")
        if re.search(r"user\.role|is_superuser|is_staff", path.read_text())
    ]
    assert offenders == []
