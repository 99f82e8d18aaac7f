"""The site's icon: linked from every page, and /favicon.ico (asked for by browsers and
tools regardless of the link) answers instead of a 404."""

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_every_page_links_the_svg_icon(client):
    page = client.get(reverse("login")).content.decode()

    assert f'<link rel="icon" href="{static("favicon.svg")}" type="image/svg+xml">' in page
    assert finders.find("favicon.svg") is not None


def test_favicon_ico_leads_to_the_icon_for_anyone(client):
    response = client.get("/favicon.ico")

    # Not permanent: the icon's hashed name changes with it, and browsers keep a 301.
    assert response.status_code == 302
    assert response["Location"] == static("favicon.svg")
