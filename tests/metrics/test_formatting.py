"""How pages write money and dates: one filter for each, the same everywhere (issue 13)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.template import Context, Template
from django.test import override_settings

from accounts.audit import shown_value
from metrics.templatetags.kpi_format import (
    day,
    format_kpi,
    kpi,
    moment,
    money,
    money_whole,
)
from pipeline.models import Deal

# 7 Dec 2026, 21:00 UTC: "this year" is 2026 in every time zone the tests use.
NOW = dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("851630"), "$851,630"),
        (Decimal("1234.56"), "$1,235"),  # the list's 1,234.56 is 1,235 on the board too
        (Decimal("1234.50"), "$1,235"),  # half up, not to even
        (Decimal("2.50"), "$3"),
        (Decimal("0.49"), "$0"),
        (Decimal("-1234.50"), "−$1,235"),  # a true minus, before the symbol
        (Decimal("-0.40"), "$0"),  # rounds to nothing: no sign
        (1234.5, "$1,235"),  # a float, as a mean may be
        (None, "—"),
        ("", "—"),
    ],
)
def test_whole_money(value, expected):
    assert money_whole(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("266741.11"), "$266,741.11"),
        (Decimal("0.005"), "$0.01"),  # half up
        (Decimal("-40000"), "−$40,000.00"),
        (Decimal("999999999999.99"), "$999,999,999,999.99"),
        (None, "—"),
    ],
)
def test_money_with_cents(value, expected):
    assert money(value) == expected


@pytest.mark.parametrize(
    ("code", "expected_whole", "expected_negative"),
    [
        ("USD", "$851,630", "−$5.00"),
        ("EUR", "€851,630", "−€5.00"),
        ("GBP", "£851,630", "−£5.00"),
        # Without a symbol of its own, the code, kept on one line with the figure.
        ("CHF", "CHF\u00a0851,630", "CHF\u00a0−5.00"),
        ("SEK", "SEK\u00a0851,630", "SEK\u00a0−5.00"),
    ],
)
def test_the_organisation_currency_is_shown_by_symbol_or_code(
    code, expected_whole, expected_negative
):
    with override_settings(ORGANISATION_CURRENCY=code):
        assert money_whole(Decimal("851630")) == expected_whole
        assert money(Decimal("-5")) == expected_negative


def test_kpis_carry_the_currency_and_pages_show_whole_units():
    with override_settings(ORGANISATION_CURRENCY="CHF"):
        assert format_kpi("sales_velocity", Decimal("607.45")) == "CHF\u00a0607.45 / day"
        link = kpi("revenue", Decimal("851630.50"))
    # Shown whole, the cents in the tooltip.
    assert ">CHF\u00a0851,631</a>" in link
    assert "Exact: CHF\u00a0851,630.50." in link
    assert format_kpi("win_rate", 0.5) == "50.0%"  # not money: no currency


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.date(2026, 12, 3), "3 Dec"),  # this year: no year
        (dt.date(2026, 1, 1), "1 Jan"),
        (dt.date(2025, 2, 27), "27 Feb 2025"),
        (dt.date(2027, 1, 4), "4 Jan 2027"),
        (dt.date(2020, 1, 1), "1 Jan 2020"),
        (None, "—"),
        ("", "—"),
    ],
)
def test_days(value, expected):
    assert day(value) == expected


@time_machine.travel(NOW, tick=False)
def test_times_are_in_the_time_zone():
    late = dt.datetime(2026, 12, 2, 23, 45, tzinfo=dt.UTC)
    with override_settings(TIME_ZONE="UTC"):
        assert moment(late) == "2 Dec, 23:45"
        assert day(late) == "2 Dec"
        assert moment(dt.datetime(2025, 6, 1, 6, 5, tzinfo=dt.UTC)) == "1 Jun 2025, 06:05"
    with override_settings(TIME_ZONE="Asia/Tokyo"):  # UTC+9: already the next day
        assert moment(late) == "3 Dec, 08:45"
        assert day(late) == "3 Dec"
    with override_settings(TIME_ZONE="America/New_York"):  # UTC−5 in December
        assert moment(late) == "2 Dec, 18:45"
        # New Year's Eve in New York is already 2027 in UTC: the year is New York's.
        assert moment(dt.datetime(2027, 1, 1, 3, 0, tzinfo=dt.UTC)) == "31 Dec, 22:00"
    assert moment(None) == "—"


@time_machine.travel(NOW, tick=False)
def test_templates_use_the_filters():
    template = Template(
        "{% load kpi_format %}{{ amount|money }} {{ amount|money_whole }} {{ when|day }} "
        "{{ at|moment }} {% currency_code %}"
    )
    text = template.render(
        Context(
            {
                "amount": Decimal("1234.56"),
                "when": dt.date(2025, 12, 3),
                "at": dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC),
            }
        )
    )
    assert text == "$1,234.56 $1,235 3 Dec 2025 1 Mar, 09:30 USD"


@time_machine.travel(NOW, tick=False)
@override_settings(TIME_ZONE="Europe/Zurich")  # UTC+1 in December
def test_a_deals_history_reads_like_its_page():
    field = Deal._meta.get_field
    assert shown_value(field("expected_close_date"), dt.date(2027, 1, 15)) == "15 Jan 2027"
    closed = dt.datetime(2026, 12, 2, 6, 44, 31, 123456, tzinfo=dt.UTC)
    assert shown_value(field("closed_at"), closed) == "2 Dec, 07:44"
    assert shown_value(field("amount"), Decimal("40000.00")) == "$40,000.00"
    assert shown_value(field("amount"), None) is None  # the panel writes "—"
    assert shown_value(field("name"), "2026-12-02") == "2026-12-02"  # a name stays as written
