"""The site's URL map: the admin, the REST API under /api/v1/ (docs/api.md describes every
endpoint) and each app's pages."""

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from accounts.admin_site import restrict_to_admins
from accounts.api import TeamViewSet, UserViewSet
from accounts.tokens import obtain_token
from api.views import not_found
from metrics.api import KPIView, SnapshotViewSet, TargetViewSet, TrendView
from pipeline.api import (
    CompanyViewSet,
    DealViewSet,
    LeadSourceViewSet,
    LeadViewSet,
    ProductViewSet,
    StageViewSet,
)

# The admin is for admins (role admin or superuser), not for whoever has is_staff.
restrict_to_admins(admin.site)

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

api_urlpatterns: list[URLPattern | URLResolver] = [
    path("auth/token/", obtain_token, name="api-token"),
    path("kpis/", KPIView.as_view(), name="api-kpis"),
    path("trends/", TrendView.as_view(), name="api-trends"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, and the template has no inline
    # style: the Content-Security-Policy forbids inline code (docs/security.md). A page for
    # people: an anonymous visitor is sent to the login page, not shown a JSON 401.
    path(
        "docs/",
        login_required(
            SpectacularSwaggerSplitView.as_view(
                url_name="api-schema", template_name="api/swagger_ui.html"
            )
        ),
        name="api-docs",
    ),
    path("", include(router.urls)),
    re_path(r"^(?P<path>.*)$", not_found, name="api-not-found"),
]

urlpatterns = [
    # Browsers and tools that ask for /favicon.ico (ignoring base.html's <link rel="icon">)
    # get the SVG icon instead of a 404 in the log on every page. Lazy: the hashed name
    # comes from the static manifest, which exists only after collectstatic.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg"))),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_urlpatterns)),
    path("", include("accounts.urls")),
    path("", include("metrics.urls")),
    path("", include("pipeline.urls")),
]
