"""Personas shared by every test module: two teams under one region, each with a manager
and reps, plus an admin. `rep` and `other_rep` sit in the same team; `outsider_rep` sits
in the sibling team; `manager` manages the rep's team only; `region_manager` the region."""

import importlib

import pytest
from django.test import override_settings

from accounts.choices import Role
from tests.factories import TeamFactory, UserFactory

# Every test hashes with MD5: each persona and factory user hashes a password, and the
# production hasher (PBKDF2, 1,000,000 rounds, slow on purpose) took a second of CPU for
# every few of them. tests/security/test_passwords.py checks the production hasher itself.
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Every test client builds the middleware chain anew, and WhiteNoise, unless it refreshes,
# indexes every static file there (the finders' and STATIC_ROOT's, ~1,000 files: half a
# second per test, a third of the suite). Refreshing looks a file up when it is asked for.
FAST_STATIC_FILES = {"WHITENOISE_AUTOREFRESH": True}


def pytest_addoption(parser):
    parser.addoption(
        "--require-marker",
        action="append",
        default=[],
        metavar="NAME",
        help="Fail the run when no selected test carries this marker (make test-slow).",
    )


def pytest_collection_finish(session):
    """`make test-slow` selects the load, fault and tour tests by marker; a suite whose
    marker was lost would otherwise leave the run green with fewer tests."""
    selected = {mark.name for item in session.items for mark in item.iter_markers()}
    missing = [name for name in session.config.getoption("require_marker") if name not in selected]
    if missing:
        pytest.exit(f"no selected test is marked {', '.join(missing)}", returncode=4)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher():
    # override_settings sends setting_changed, which empties Django's cache of hashers.
    with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS, **FAST_STATIC_FILES):
        yield


@pytest.fixture(autouse=True)
def _migration_data(request):
    """A transactional test flushes every table at its end, rows made by data migrations
    included (the default pipeline, the nightly schedule); put them back before each one."""
    marker = request.node.get_closest_marker("django_db")
    if not (marker and marker.kwargs.get("transaction")):
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    for module, function in [
        ("pipeline.migrations.0002_default_pipeline", "create_default_pipeline"),
        ("metrics.migrations.0003_nightly_snapshot_schedule", "create_schedule"),
    ]:
        getattr(importlib.import_module(module), function)(apps, None)


@pytest.fixture(scope="session", autouse=True)
def _replica_url_kept_from_subprocesses():
    """With DATABASE_REPLICA_URL set, the processes tests start (Celery workers, servers)
    run on the primary alone: the URL names the real database, not the test one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DATABASE_REPLICA_URL", raising=False)
        yield


@pytest.fixture(autouse=True)
def _reads_on_the_primary(request, monkeypatch):
    """With DATABASE_REPLICA_URL set, a test not marked `replica` reads the primary, in
    every thread (live server, concurrent writers): the replica sees only committed rows,
    and most tests run inside a transaction."""
    from django.conf import settings

    if "replica" in settings.DATABASES and not request.node.get_closest_marker("replica"):
        monkeypatch.setattr("salesperf.db_router.reads_primary", lambda: True)


@pytest.fixture
def region(db):
    return TeamFactory(name="Region")


@pytest.fixture
def team(region):
    return TeamFactory(name="Team North", parent=region)


@pytest.fixture
def other_team(region):
    return TeamFactory(name="Team South", parent=region)


@pytest.fixture
def rep(team):
    return UserFactory(username="rep", team=team, role=Role.REP)


@pytest.fixture
def other_rep(team):
    return UserFactory(username="other_rep", team=team, role=Role.REP)


@pytest.fixture
def outsider_rep(other_team):
    return UserFactory(username="outsider_rep", team=other_team, role=Role.REP)


@pytest.fixture
def manager(team):
    user = UserFactory(username="manager", team=team, role=Role.MANAGER)
    team.manager = user
    team.save()
    return user


@pytest.fixture
def region_manager(region):
    user = UserFactory(username="region_manager", team=region, role=Role.MANAGER)
    region.manager = user
    region.save()
    return user


@pytest.fixture
def admin_user(db):
    return UserFactory(
        username="boss", team=None, role=Role.ADMIN, is_staff=True, is_superuser=True
    )
