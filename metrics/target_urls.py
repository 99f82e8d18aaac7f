from django.urls import path

from . import target_views

urlpatterns = [
    path("targets/", target_views.targets, name="targets"),
    path("targets/history/", target_views.target_history, name="target-history"),
]
