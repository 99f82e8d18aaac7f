from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("me/", views.my_performance, name="my-performance"),
    path("reps/<int:user_id>/", views.rep_performance, name="rep-performance"),
    path("teams/<int:team_id>/", views.team_dashboard, name="team-dashboard"),
    path("org/", views.org_dashboard, name="org-dashboard"),
    path("definitions/", views.glossary, name="glossary"),
]
