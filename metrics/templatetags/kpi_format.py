"""How the pages write numbers and dates, and the links from every KPI to its definition.

Money carries the organisation's currency ("$851,630", "CHF 851,630"), in whole units
rounded half up on dashboards, lists and the board, with cents on a deal's page; rates are
percentages, days have one decimal; dates read "3 Dec" this year and "3 Dec 2025" otherwise,
times "3 Dec 2025, 06:45" in TIME_ZONE. An undefined value is "—": never "None", "NaN" or
an error (docs/kpis.md "Money", docs/app.md "Dates").
"""

import functools
import html

from django import template
from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString, mark_safe

from metrics.definitions import DEFINITIONS, TERMS
from periods.formats import MINUS, currency_parts, day_text, is_number, moment_text, money_text

register = template.Library()

UNDEFINED = "—"


def currency() -> str:
    """The organisation's currency, ISO 4217 (settings.ORGANISATION_CURRENCY)."""
    # Read per call, as money() does: a plain attribute once settings are loaded (no lookup
    # cost), and override_settings takes effect.
    return settings.ORGANISATION_CURRENCY


@register.filter
def money(value, places: int = 2) -> str:
    """36000 -> "$36,000.00"; money:0 -> "$36,000" (half up); see periods.formats."""
    return money_text(value, int(places))


@register.filter
def money_whole(value) -> str:
    """Money in whole units, for tiles, tables and the board: 1234.56 -> "$1,235"."""
    return money(value, 0)


@register.simple_tag
def currency_code() -> str:
    """The organisation's currency code, for labels: "Amount (USD)"."""
    return currency()


@register.simple_tag
def currency_prefix() -> str:
    """What leads a non-negative amount: "$", "CHF " (for scripts that total figures)."""
    head, symbol = currency_parts(currency())
    return f"{head}{symbol}"


@register.filter
def day(value) -> str:
    """A date as pages write it: "3 Dec" in the current year, "3 Dec 2025" otherwise; a
    date-time gives its day in TIME_ZONE; None -> "—" (periods.formats)."""
    return day_text(value)


@register.filter
def moment(value) -> str:
    """A date-time in TIME_ZONE: "3 Dec, 06:45" this year, "3 Dec 2025, 06:45" otherwise."""
    return moment_text(value)


@register.filter
def percent(value, places: int = 1) -> str:
    """0.571428 -> "57.1%"."""
    if not is_number(value):
        return UNDEFINED
    return f"{float(value) * 100:.{int(places)}f}%".replace("-", MINUS)


@register.filter
def days(value) -> str:
    """36.6875 -> "36.7 days"."""
    if not is_number(value):
        return UNDEFINED
    return f"{float(value):,.1f} days".replace("-", MINUS)


@register.filter
def count(value) -> str:
    """1234 -> "1,234"; a median of counts may be a half: "2.5"."""
    if not is_number(value):
        return UNDEFINED
    number = float(value)
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.1f}"


# A deal's history (pipeline.selectors.deal_change_history) gives values as the API sends
# them, ISO dates and decimal strings; its panel on the deal page shows them as pages do.
def format_kpi(key: str, value, *, whole: bool = False) -> str:
    """A KPI's value in its unit; money in whole units with `whole`, else with cents."""
    unit = DEFINITIONS[key].unit
    if unit == "money":
        return money(value, 0 if whole else 2)
    if unit == "money_per_day":
        text = money(value, 0 if whole else 2)
        return text if text == UNDEFINED else f"{text} / day"
    if unit == "rate":
        return percent(value)
    if unit == "days":
        return days(value)
    return count(value)


@register.filter
def kpi_format(value, key: str) -> str:
    """Any KPI in its unit: {{ value|kpi_format:"win_rate" }}."""
    return format_kpi(key, value)


@register.filter
def kpi_whole(value, key: str) -> str:
    """Like kpi_format, money in whole units: {{ value|kpi_whole:"revenue" }}."""
    return format_kpi(key, value, whole=True)


@register.filter
def change_text(figure) -> str:
    """A Figure's change against the previous period: "▲ 5.2 pts", "▼ 12.0%",
    "▲ 3.1 days", "no change"; "" when there is nothing to compare."""
    change = figure.change
    if change is None:
        return ""
    if figure.direction == "flat":
        return "no change"
    arrow = "▲" if change > 0 else "▼"
    unit = figure.definition.unit
    if unit == "rate":
        return f"{arrow} {abs(change) * 100:.1f} pts"
    if unit == "days":
        return f"{arrow} {abs(change):.1f} days"
    return f"{arrow} {abs(change) * 100:.1f}%"


def _glossary_url() -> str:
    # Every figure links to it: 700 reverse() calls on /teams/<region>/, 70 ms. The same
    # for every request under one URLconf and script prefix.
    return _glossary_path(get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())


@functools.lru_cache(maxsize=16)
def _glossary_path(urlconf: str, prefix: str) -> str:
    return reverse("metrics:glossary", urlconf=urlconf)


# The figure links are simple tags, not inclusion tags: a page has hundreds of them (666
# on /teams/<region>/), and rendering a template for each cost more than the rest. They are
# written with the standard library's html.escape (the same five characters Django's
# escape replaces) and the fixed part of each link built once: format_html escaped every
# piece of 440 links on /org/ through Django's lazy wrappers, ~25 ms a page.


def _escaped(value) -> str:
    # What conditional_escape does: text already marked safe (a template's string literal)
    # stays as it is.
    return str(value) if hasattr(value, "__html__") else html.escape(str(value))


@functools.lru_cache(maxsize=512)
def _link_head(css: str, href: str, title: str) -> str:
    return f'<a class="{css}" href="{_escaped(href)}" title="{_escaped(title)}'


def _defined_link(href: str, title: str, label: str) -> SafeString:
    return mark_safe(f'{_link_head("defined", href, title)}">{_escaped(label)}</a>')


@register.simple_tag
def kpi(key: str, value, whole: bool = True) -> SafeString:
    """A KPI's value, linked to its definition, the one-line definition as its title (and
    the exact value when it is shown rounded). Pages show money in whole units; the title
    gives the cents."""
    definition = DEFINITIONS[key]
    text = format_kpi(key, value, whole=whole)
    exact = format_kpi(key, value) if whole else ""
    more = html.escape(f" Exact: {exact}.") if exact and exact != text else ""
    head = _link_head("kpi", f"{_glossary_url()}#{key}", definition.short)
    return mark_safe(f'{head}{more}">{html.escape(text)}</a>')


@register.simple_tag
def kpi_label(key: str, label: str = "") -> SafeString:
    """A KPI's name, linked to its definition."""
    definition = DEFINITIONS[key]
    return _defined_link(f"{_glossary_url()}#{key}", definition.short, label or definition.label)


@register.simple_tag
def term_label(key: str, label: str = "") -> SafeString:
    """A dashboard term (stale deal, funnel…), linked to its explanation."""
    term = TERMS[key]
    return _defined_link(f"{_glossary_url()}#{key}", term.text, label or term.label)


@register.inclusion_tag("metrics/_sort_header.html", takes_context=True)
def sort_header(
    context, key: str, label: str = "", numeric: bool = True, hide_small: bool = False
) -> dict:
    """A sortable column header: links to the same page sorted by `key` (descending first,
    then ascending), keeping the period; aria-sort tells which column sorts."""
    current = context.get("sort", "")
    descending = current == f"-{key}"
    ascending = current == key
    if key == "name":
        next_sort = "-name" if ascending else "name"
    else:
        next_sort = key if descending else f"-{key}"
    definition = DEFINITIONS.get(key)
    return {
        "query": f"{context['period'].query}&sort={next_sort}",
        "label": label or (definition.label if definition else key),
        "title": definition.short if definition else "",
        "aria_sort": "descending" if descending else "ascending" if ascending else "",
        "classes": " ".join(
            c for c in ("num" if numeric else "", "hide-sm" if hide_small else "") if c
        ),
    }
