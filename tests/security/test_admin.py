"""The admin is for admins (accounts.access, Capability.USE_ADMIN): a manager or a rep gets no
admin page even with is_staff and every model permission set by mistake."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def make_staff_with_every_permission(user) -> None:
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())


@pytest.mark.parametrize("persona", ["rep", "manager"])
def test_staff_flag_gives_a_rep_or_manager_no_admin(client, request, persona):
    user = request.getfixturevalue(persona)
    make_staff_with_every_permission(user)
    deal = DealFactory(owner=user)
    client.force_login(user)
    urls = [
        reverse("admin:index"),
        reverse("admin:pipeline_deal_changelist"),
        reverse("admin:pipeline_deal_change", args=[deal.pk]),
        reverse("admin:pipeline_deal_history", args=[deal.pk]),
        reverse("admin:pipeline_deal_add"),
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_user_change", args=[user.pk]),
        reverse("admin:app_list", args=["pipeline"]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    # Nor can they promote themselves through the change form.
    response = client.post(
        reverse("admin:accounts_user_change", args=[user.pk]),
        {"username": user.username, "role": "admin", "is_superuser": "on"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.is_superuser and user.role == persona
    assert ">Admin</a>" not in client.get(reverse("pipeline:deal-list")).content.decode()


def test_the_admin_login_refuses_a_staff_rep(client, rep):
    make_staff_with_every_permission(rep)
    response = client.post(
        reverse("admin:login"), {"username": "rep", "password": "pw-for-tests-1"}
    )
    assert response.status_code == 200
    assert "correct username and password for a staff account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_admins_use_the_admin_and_see_its_link(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:pipeline_deal_changelist")).status_code == 200
    page = client.get(reverse("pipeline:deal-list")).content.decode()
    assert f'href="{reverse("admin:index")}">Admin</a>' in page


def test_an_inactive_admin_gets_no_admin(client, admin_user):
    admin_user.is_active = False
    admin_user.save()
    client.force_login(admin_user)
    assert client.get(reverse("admin:index")).status_code == 302
