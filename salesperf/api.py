"""The REST API's URL map, /api/v1/. docs/api.md describes every endpoint."""

from django.urls import include, path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from accounts.api import TeamViewSet, UserViewSet
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


router = DefaultRouter()
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
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("kpis/", KPIView.as_view(), name="api-kpis"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
    re_path(r"^(?P<path>.*)$", not_found, name="api-not-found"),
]
