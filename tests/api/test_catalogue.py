"""Reference data: companies (everyone reads and adds, admins change), stages (read-only),
products and lead sources (everyone reads, admins change)."""

from decimal import Decimal

import pytest

from pipeline.models import Company, LeadSource, Product
from tests.api.conftest import url
from tests.factories import DealFactory, LeadFactory, LeadSourceFactory, ProductFactory

pytestmark = pytest.mark.django_db


# --- Companies ------------------------------------------------------------------------------


def test_everyone_reads_every_company(as_user, outsider_rep, company):
    body = as_user(outsider_rep).get(url("company-list")).json()
    assert [c["name"] for c in body["results"]] == ["Acme"]
    assert as_user(outsider_rep).get(url("company-detail", company.pk)).status_code == 200


def test_a_rep_adds_a_company(as_user, rep):
    response = as_user(rep).post(
        url("company-list"),
        {"name": "  Globex   Corp ", "segment": "enterprise", "icp_fit": "high"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Company.objects.get().name == "Globex Corp"


def test_company_names_are_unique_whatever_the_case(as_user, rep, company):
    response = as_user(rep).post(url("company-list"), {"name": "ACME"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": [f"Company {company.pk} already has this name."]}


def test_a_rep_may_not_change_a_company(as_user, rep, company):
    response = as_user(rep).patch(
        url("company-detail", company.pk), {"name": "Acme Inc"}, format="json"
    )
    assert response.status_code == 403
    assert as_user(rep).delete(url("company-detail", company.pk)).status_code == 403
    company.refresh_from_db()
    assert company.name == "Acme"


def test_an_admin_renames_a_company(as_user, admin_user, company):
    response = as_user(admin_user).patch(
        url("company-detail", company.pk), {"name": "Acme Inc"}, format="json"
    )
    assert response.status_code == 200
    company.refresh_from_db()
    assert company.name == "Acme Inc"


def test_a_company_in_use_is_not_deleted(as_user, admin_user, rep, company):
    DealFactory(owner=rep, company=company)
    response = as_user(admin_user).delete(url("company-detail", company.pk))
    assert response.status_code == 409
    assert "still in use" in response.json()["detail"]
    assert Company.objects.filter(pk=company.pk).exists()


def test_an_unused_company_is_deleted(as_user, admin_user, company):
    assert as_user(admin_user).delete(url("company-detail", company.pk)).status_code == 204
    assert not Company.objects.exists()


def test_companies_are_found_by_name_and_segment(as_user, rep, company):
    client = as_user(rep)
    assert client.get(url("company-list"), {"name": "cm"}).json()["count"] == 1
    assert client.get(url("company-list"), {"segment": "smb"}).json()["count"] == 0


# --- Stages ---------------------------------------------------------------------------------


def test_stages_are_read_only_and_default_first(as_user, rep):
    client = as_user(rep)
    body = client.get(url("stage-list")).json()
    assert [s["name"] for s in body["results"]] == [
        "Prospecting",
        "Qualification",
        "Proposal",
        "Negotiation",
        "Won",
        "Lost",
    ]
    assert body["results"][4]["kind"] == "won"
    assert body["results"][4]["probability"] == 100
    assert client.post(url("stage-list"), {"name": "New"}, format="json").status_code == 405


def test_stages_filter_by_kind(as_user, rep):
    body = as_user(rep).get(url("stage-list"), {"kind": "open"}).json()
    assert body["count"] == 4


# --- Products and lead sources --------------------------------------------------------------


def test_everyone_reads_products_and_only_admins_change_them(as_user, rep, admin_user, product):
    assert as_user(rep).get(url("product-list")).json()["count"] == 1
    response = as_user(rep).post(url("product-list"), {"name": "Support"}, format="json")
    assert response.status_code == 403
    response = as_user(rep).patch(
        url("product-detail", product.pk), {"is_active": False}, format="json"
    )
    assert response.status_code == 403
    response = as_user(admin_user).post(
        url("product-list"), {"name": "Support", "list_price": "99.9"}, format="json"
    )
    assert response.status_code == 201
    assert Product.objects.get(name="Support").list_price == Decimal("99.90")
    response = as_user(admin_user).patch(
        url("product-detail", product.pk), {"is_active": False}, format="json"
    )
    assert response.json()["is_active"] is False


def test_deleting_a_product_leaves_its_deals_without_one(as_user, admin_user, rep, product):
    deal = DealFactory(owner=rep, product=product)
    assert as_user(admin_user).delete(url("product-detail", product.pk)).status_code == 204
    deal.refresh_from_db()
    assert deal.product is None


def test_products_filter_by_activity(as_user, rep, product):
    ProductFactory(name="Old", is_active=False)
    body = as_user(rep).get(url("product-list"), {"is_active": "true"}).json()
    assert [p["name"] for p in body["results"]] == ["Seats"]


def test_lead_sources(as_user, rep, admin_user, source):
    assert as_user(rep).get(url("lead-source-list")).json()["results"] == [
        {"id": source.pk, "name": "Web"}
    ]
    response = as_user(rep).post(url("lead-source-list"), {"name": "Event"}, format="json")
    assert response.status_code == 403
    response = as_user(admin_user).post(url("lead-source-list"), {"name": "Event"}, format="json")
    assert response.status_code == 201
    response = as_user(admin_user).post(url("lead-source-list"), {"name": "Event"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["name"]


def test_a_lead_source_in_use_is_not_deleted(as_user, admin_user, rep):
    used = LeadSourceFactory(name="Partner")
    LeadFactory(owner=rep, source=used)
    response = as_user(admin_user).delete(url("lead-source-detail", used.pk))
    assert response.status_code == 409
    assert LeadSource.objects.filter(pk=used.pk).exists()
