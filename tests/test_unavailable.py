"""The database away: a 503 page (or JSON for the API) with Retry-After, never a 500 or a
traceback, whichever layer met the error (salesperf/middleware.py)."""

import pytest
from django.db import OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down(monkeypatch):
    """Every query fails the way a stopped PostgreSQL makes it fail."""

    def refuse(self):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed')

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)


def assert_clean_503(response) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    body = response.content.decode()
    assert "Traceback" not in body
    assert "OperationalError" not in body
    assert "127.0.0.1" not in body


def test_a_view_meeting_a_database_error_answers_503(rep):
    # The session and the user load; the view's first query on deals fails.
    def fail_on_deals(execute, sql, params, many, context):
        if "pipeline_deal" in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    client = Client(raise_request_exception=False)
    client.force_login(rep)
    with connection.execute_wrapper(fail_on_deals):
        response = client.get(reverse("pipeline:deal-list"))
    assert_clean_503(response)
    assert "Back in a moment" in response.content.decode()


def test_database_down_before_the_view_answers_503_page(rep, database_down):
    # The session and the user are read by the middleware below ours: the error is met
    # there, before any view runs.
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "x" * 32
    response = client.get(reverse("pipeline:deal-list"))
    assert_clean_503(response)
    assert response["Content-Type"].startswith("text/html")
    assert "Back in a moment" in response.content.decode()


def test_login_post_with_database_down_answers_503(database_down):
    client = Client(raise_request_exception=False)
    response = client.post(reverse("login"), {"username": "rep", "password": "whatever-1234"})
    assert_clean_503(response)


def test_api_with_database_down_answers_503_json(database_down):
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/deals/", HTTP_AUTHORIZATION="Token " + "a" * 40)
    assert_clean_503(response)
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_pages_answer_again_once_the_database_is_back(rep, monkeypatch):
    def refuse(self):
        raise OperationalError("the database system is starting up")

    client = Client(raise_request_exception=False)
    client.force_login(rep)
    with monkeypatch.context() as patch:
        patch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)
        assert client.get(reverse("pipeline:deal-list")).status_code == 503
    assert client.get(reverse("pipeline:deal-list")).status_code == 200


def test_other_errors_stay_500():
    from salesperf.middleware import DatabaseUnavailableMiddleware

    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    assert middleware.process_exception(None, ValueError("a bug")) is None


class DatabaseDownMiddleware:
    """Stands for a middleware below ours that reads the database before the view (as the
    session and django-axes may): its error never reaches process_exception."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise OperationalError("terminating connection due to administrator command")


def test_a_database_error_in_a_middleware_below_answers_503(settings):
    position = settings.MIDDLEWARE.index("salesperf.middleware.DatabaseUnavailableMiddleware")
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[: position + 1],
        "tests.test_unavailable.DatabaseDownMiddleware",
        *settings.MIDDLEWARE[position + 1 :],
    ]
    client = Client(raise_request_exception=False)
    assert_clean_503(client.get(reverse("login")))
    api = client.get("/api/v1/deals/")
    assert_clean_503(api)
    assert api.json()["detail"].startswith("The service is briefly unavailable")


def test_the_middleware_sits_right_after_security_middleware(settings):
    assert settings.MIDDLEWARE[:2] == [
        "django.middleware.security.SecurityMiddleware",
        "salesperf.middleware.DatabaseUnavailableMiddleware",
    ]
