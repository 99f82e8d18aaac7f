"""The REST API's URL map, /api/v1/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from accounts.api import TeamViewSet, UserViewSet
from metrics.api import KPIView, SnapshotViewSet

router = DefaultRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("users", UserViewSet, basename="user")
router.register("snapshots", SnapshotViewSet, basename="snapshot")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("kpis/", KPIView.as_view(), name="api-kpis"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]
