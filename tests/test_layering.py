"""The apps' layers, bottom to top: periods (the calendar, imports no app), accounts,
pipeline, metrics; then demo and backups, which build or copy rows of every app and may
import anything. A layer never imports one above it, so the KPI layer can change without
touching the domain, and the product runs without its demo data or backup tool."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["periods", "accounts", "pipeline", "metrics", "demo", "backups"]


def imported_modules(app: str) -> set[str]:
    found = set()
    for path in (ROOT / app).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_every_app_is_checked():
    assert all((ROOT / app / "__init__.py").is_file() for app in APPS)


def test_the_scanner_sees_imports():
    # A probe that cannot fail proves nothing: the demo builds deals and users.
    assert {"accounts", "pipeline", "metrics"} <= imported_modules("demo")


@pytest.mark.parametrize("app", ["accounts", "pipeline", "metrics"])
def test_the_product_does_not_import_demo_or_backups(app):
    assert not imported_modules(app) & {"demo", "backups"}


def test_pipeline_and_accounts_do_not_import_metrics():
    assert "metrics" not in imported_modules("pipeline")
    assert "metrics" not in imported_modules("accounts")


def test_accounts_does_not_import_pipeline():
    assert "pipeline" not in imported_modules("accounts")


def test_calendar_imports_no_app():
    assert not imported_modules("periods") & {"accounts", "pipeline", "metrics", "demo", "backups"}


def test_api_framework_imports_no_app():
    """Every app builds its endpoints on api/; the URL map joining them is salesperf/urls.py."""
    assert not imported_modules("api") & {"accounts", "pipeline", "metrics", "demo", "backups"}


# The page views: they read through selectors (or the dashboard and target builders),
# never the ORM themselves, so a read and its access rule live in one place.
PAGE_VIEWS = [
    "pipeline/views.py",
    "pipeline/csv_views.py",
    "metrics/views.py",
    "metrics/target_views.py",
]
ORM_READS = {"objects", "aggregate", "annotate", "values_list", "select_related"}


def orm_reads(path: Path) -> list[str]:
    return [
        f"{path.name}:{node.lineno} .{node.attr}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in ORM_READS
    ]


def test_the_read_scanner_sees_orm_reads():
    assert orm_reads(ROOT / "pipeline" / "selectors.py")


@pytest.mark.parametrize("module", PAGE_VIEWS)
def test_page_views_read_through_selectors(module):
    assert orm_reads(ROOT / module) == []
