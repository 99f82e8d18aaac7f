"""The glossary: one definition per KPI of the engine, in the words of docs/kpis.md, each
with its anchor on the page; and the way the pages write numbers."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils.html import escape

from metrics.dashboards import Figure
from metrics.definitions import DEFINITIONS, TARGET_RULE, TERMS
from metrics.kpis import KPI_KEYS
from metrics.templatetags.kpi_format import change_text, count, days, format_kpi, money, percent

DOCS = Path(__file__).resolve().parents[2] / "docs" / "kpis.md"


def test_every_kpi_has_exactly_one_definition():
    assert list(DEFINITIONS) == KPI_KEYS
    for key, definition in DEFINITIONS.items():
        assert definition.key == key
        assert definition.label and definition.meaning and definition.formula
        assert definition.unit in ("count", "money", "rate", "days", "money_per_day")


def test_definitions_use_the_words_of_the_docs():
    # Markdown emphasis and code marks dropped, whitespace squeezed.
    docs = re.sub(r"\s+", " ", re.sub(r"[*`]", "", DOCS.read_text()))
    for definition in DEFINITIONS.values():
        row = f"| {definition.meaning} | {definition.formula}"
        assert row in docs, f"{definition.key}: {row!r} is not a row of docs/kpis.md"


@pytest.mark.django_db
def test_glossary_page_has_an_anchor_per_kpi_and_term(client, rep):
    client.force_login(rep)
    response = client.get(reverse("metrics:glossary"))
    assert response.status_code == 200
    html = response.content.decode()
    for key in [*KPI_KEYS, *TERMS]:
        assert f'id="{key}"' in html, key
        assert f'href="#{key}"' in html, key
    assert DEFINITIONS["win_rate"].formula in html
    # The unit of money is named: the organisation's currency.
    assert "Money in the organisation's currency, USD:" in html


@pytest.mark.django_db
def test_glossary_needs_a_login(client):
    response = client.get(reverse("metrics:glossary"))
    assert response.status_code == 302


@pytest.mark.django_db
def test_glossary_query_budget(client, rep, django_assert_max_num_queries):
    client.force_login(rep)
    with django_assert_max_num_queries(3):
        client.get(reverse("metrics:glossary"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("36000"), "$36,000.00"),
        (Decimal("1234567.891"), "$1,234,567.89"),
        (0, "$0.00"),
        (None, "—"),
        (float("nan"), "—"),
        (float("inf"), "—"),
        ("not a number", "—"),
    ],
)
def test_money(value, expected):
    assert money(value) == expected


def test_whole_money_rates_days_and_counts():
    assert money(Decimal("9750.50"), 0) == "$9,751"  # half up
    assert percent(4 / 7) == "57.1%"
    assert percent(0.9) == "90.0%"
    assert percent(None) == "—"
    assert days(36.6875) == "36.7 days"
    assert days(None) == "—"
    assert count(1234) == "1,234"
    assert count(4.5) == "4.5"
    assert format_kpi("sales_velocity", Decimal("607.45")) == "$607.45 / day"
    assert format_kpi("sales_velocity", None) == "—"
    assert format_kpi("attainment", 0.78) == "78.0%"


def test_changes_read_in_the_unit_of_the_figure():
    def change(key, value, previous):
        return change_text(Figure(key=key, value=value, previous=previous))

    assert change("win_rate", 0.6, 0.5) == "▲ 10.0 pts"
    assert change("revenue", Decimal("120"), Decimal("100")) == "▲ 20.0%"
    assert change("sales_cycle_days_mean", 30.0, 40.0) == "▼ 10.0 days"
    assert change("revenue", Decimal("5"), Decimal("0")) == ""  # no ratio to a zero
    assert change("revenue", Decimal("0"), Decimal("0")) == "no change"
    assert change("win_rate", None, 0.5) == ""
    # Colour says good or bad: a shorter cycle is good, more losses bad.
    assert Figure(key="sales_cycle_days_mean", value=30.0, previous=40.0).tone == "up"
    assert Figure(key="deals_lost", value=3, previous=1).tone == "down"
    assert Figure(key="target", value=Decimal(2), previous=Decimal(1)).tone == ""


@pytest.mark.django_db
def test_the_target_rule_is_stated_once_in_the_same_words(client, rep):
    client.force_login(rep)
    page = client.get(reverse("metrics:glossary")).content.decode()
    docs = re.sub(r"\s+", " ", re.sub(r"[*`]", "", DOCS.read_text()))
    for sentence in TARGET_RULE:
        assert escape(sentence) in page
        assert sentence in docs
    # The rule it replaces ("the smallest calendar period that starts on start...") is gone.
    assert "smallest calendar period" not in page + docs
