"""The REST API's URL map, /api/v1/. docs/api.md describes every endpoint."""

from django.urls import include, path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from accounts.api import TeamViewSet, UserViewSet
from accounts.tokens import obtain_token
from metrics.api import KPIView, SnapshotViewSet, TargetViewSet
from pipeline.api import (
    CompanyViewSet,
    DealViewSet,
    LeadSourceViewSet,
    LeadViewSet,
    ProductViewSet,
    StageViewSet,
)


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@permission_classes([AllowAny])  # nothing here to protect
def not_found(request, path: str = ""):
    """Any other URL under /api/v1/ (a misspelt endpoint, an id that is not a number, like
    deals/1.5/): a JSON 404 like every other API error, not the site's HTML page."""
    raise NotFound("No endpoint has this URL; see /api/v1/docs/.")


# No format-suffix routes (deals/1.json): the API speaks JSON only, and the custom actions
# (move, convert, status, history) answered those URLs with a 500 (found by
# tests/security/test_access.py). deals/1.json is now the catch-all's JSON 404.
router = DefaultRouter()
router.include_format_suffixes = False
router.register("deals", DealViewSet, basename="deal")
router.register("leads", LeadViewSet, basename="lead")
router.register("companies", CompanyViewSet, basename="company")
router.register("stages", StageViewSet, basename="stage")
router.register("products", ProductViewSet, basename="product")
router.register("lead-sources", LeadSourceViewSet, basename="lead-source")
router.register("teams", TeamViewSet, basename="team")
router.register("users", UserViewSet, basename="user")
router.register("targets", TargetViewSet, basename="target")
router.register("snapshots", SnapshotViewSet, basename="snapshot")

urlpatterns = [
    path("auth/token/", obtain_token, name="api-token"),
    path("kpis/", KPIView.as_view(), name="api-kpis"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, and the template has no inline
    # style: the Content-Security-Policy forbids inline code (docs/security.md).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("", include(router.urls)),
    re_path(r"^(?P<path>.*)$", not_found, name="api-not-found"),
]
