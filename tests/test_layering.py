"""metrics may read pipeline and accounts; pipeline and accounts never import metrics, so
the KPI layer can change without touching the domain."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(app: str) -> set[str]:
    found = set()
    for path in (ROOT / app).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_pipeline_and_accounts_do_not_import_metrics():
    assert "metrics" not in imported_modules("pipeline")
    assert "metrics" not in imported_modules("accounts")


def test_accounts_does_not_import_pipeline():
    assert "pipeline" not in imported_modules("accounts")


def test_calendar_imports_no_app():
    assert not imported_modules("periods") & {"accounts", "pipeline", "metrics"}


def test_api_framework_imports_no_app():
    """Every app builds its endpoints on api/; the URL map joining them is salesperf/urls.py."""
    assert not imported_modules("api") & {"accounts", "pipeline", "metrics"}
