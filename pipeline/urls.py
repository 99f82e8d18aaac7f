from django.urls import path

from . import csv_views, views

app_name = "pipeline"
urlpatterns = [
    path("deals/", views.deal_list, name="deal-list"),
    path("deals/export.csv", csv_views.deal_export, name="deal-export"),
    path("people/export.csv", csv_views.people_export, name="people-export"),
    path("import/", csv_views.import_upload, name="import"),
    path("import/format/", csv_views.import_format, name="import-format"),
    path("import/<int:pk>/", csv_views.import_job_detail, name="import-job"),
    path("deals/board/", views.deal_board, name="deal-board"),
    path("deals/new/", views.deal_create, name="deal-create"),
    path("deals/quick/", views.deal_quick_add, name="deal-quick-add"),
    path("deals/<int:pk>/", views.deal_detail, name="deal-detail"),
    path("deals/<int:pk>/move/", views.deal_move, name="deal-move"),
    path("deals/<int:pk>/close/", views.deal_close, name="deal-close"),
    path("deals/<int:pk>/delete/", views.deal_delete_view, name="deal-delete"),
    path("leads/", views.lead_list, name="lead-list"),
    path("leads/new/", views.lead_create, name="lead-create"),
    path("leads/<int:pk>/status/", views.lead_status, name="lead-status"),
    path("leads/<int:pk>/convert/", views.lead_convert_view, name="lead-convert"),
    path("leads/<int:pk>/delete/", views.lead_delete_view, name="lead-delete"),
]
