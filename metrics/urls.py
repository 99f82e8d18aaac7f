"""The metrics app's pages: dashboards (metrics/dashboard_urls.py) and targets
(metrics/target_urls.py), under one namespace."""

from . import dashboard_urls, target_urls

app_name = "metrics"
urlpatterns = [*dashboard_urls.urlpatterns, *target_urls.urlpatterns]
