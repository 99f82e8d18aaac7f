from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("me/", views.my_performance, name="my-performance"),
    path("reps/<int:user_id>/", views.rep_performance, name="rep-performance"),
    path("teams/<int:team_id>/", views.team_dashboard, name="team-dashboard"),
    path("teams/<int:team_id>/export.csv", views.team_export, name="team-export"),
    path("org/", views.org_dashboard, name="org-dashboard"),
    path("org/export.csv", views.org_export, name="org-export"),
    path("definitions/", views.glossary, name="glossary"),
]
