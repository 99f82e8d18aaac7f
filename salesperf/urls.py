from django.contrib import admin
from django.urls import include, path

from accounts.admin_site import restrict_to_admins

# The admin is for admins (role admin or superuser), not for whoever has is_staff.
restrict_to_admins(admin.site)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("salesperf.api")),
    path("", include("accounts.urls")),
    path("", include("metrics.urls")),
    path("", include("pipeline.urls")),
]
