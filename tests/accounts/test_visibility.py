"""Who sees which leads and deals: a rep their own, a manager the team tree, admin all."""

import pytest

from accounts.selectors import team_tree_ids
from pipeline.models import Deal, Lead
from tests.factories import DealFactory, LeadFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def deals(rep, other_rep, outsider_rep, manager):
    return {
        "rep": DealFactory(owner=rep, name="rep's"),
        "other_rep": DealFactory(owner=other_rep, name="other rep's"),
        "outsider": DealFactory(owner=outsider_rep, name="outsider's"),
        "manager": DealFactory(owner=manager, name="manager's"),
    }


def visible_names(user) -> set[str]:
    return set(Deal.objects.visible_to(user).values_list("name", flat=True))


def test_rep_sees_only_their_own_deals(deals, rep):
    assert visible_names(rep) == {"rep's"}


def test_rep_cannot_see_a_teammates_deal_by_id(deals, rep):
    assert not Deal.objects.visible_to(rep).filter(pk=deals["other_rep"].pk).exists()


def test_manager_sees_their_team_but_not_the_sibling_team(deals, manager):
    assert visible_names(manager) == {"rep's", "other rep's", "manager's"}


def test_region_manager_sees_the_whole_tree(deals, region_manager):
    assert visible_names(region_manager) == {"rep's", "other rep's", "outsider's", "manager's"}


def test_admin_sees_everything(deals, admin_user):
    assert len(visible_names(admin_user)) == 4


def test_anonymous_sees_nothing(deals):
    from django.contrib.auth.models import AnonymousUser

    assert visible_names(AnonymousUser()) == set()


def test_leads_follow_the_same_rules(rep, outsider_rep, manager, region_manager):
    LeadFactory(owner=rep)
    LeadFactory(owner=outsider_rep)
    assert Lead.objects.visible_to(rep).count() == 1
    assert Lead.objects.visible_to(manager).count() == 1
    assert Lead.objects.visible_to(region_manager).count() == 2


def test_team_tree_includes_every_level_below(region, team, other_team):
    grandchild = TeamFactory(name="Team North East", parent=team)
    unrelated = TeamFactory(name="Elsewhere")
    assert team_tree_ids(root_ids=[region.pk]) == {region.pk, team.pk, other_team.pk, grandchild.pk}
    assert team_tree_ids(root_ids=[team.pk]) == {team.pk, grandchild.pk}
    assert unrelated.pk not in team_tree_ids(root_ids=[region.pk])


def test_team_cannot_become_its_own_ancestor(region, team):
    from django.core.exceptions import ValidationError

    region.parent = team
    with pytest.raises(ValidationError) as error:
        region.full_clean()
    assert "parent" in error.value.message_dict
