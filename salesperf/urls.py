from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("salesperf.api")),
    path("", include("accounts.urls")),
    path("", include("metrics.urls")),
    path("", include("pipeline.urls")),
]
