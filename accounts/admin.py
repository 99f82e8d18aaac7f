from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .audit import AuditedAdmin
from .models import Team, User


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    list_display = ["username", "get_full_name", "email", "role", "team", "is_active", "last_login"]
    list_filter = ["role", "team", "is_active", "is_staff"]
    search_fields = ["username", "first_name", "last_name", "email"]
    autocomplete_fields = ["team"]
    list_select_related = ["team"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Sales organisation", {"fields": ["role", "team"]}),
    ]
    add_fieldsets = [
        *DjangoUserAdmin.add_fieldsets,
        ("Sales organisation", {"fields": ["first_name", "last_name", "email", "role", "team"]}),
    ]


class SubTeamInline(admin.TabularInline):
    model = Team
    fk_name = "parent"
    fields = ["name", "manager"]
    autocomplete_fields = ["manager"]
    extra = 0
    verbose_name = "sub-team"
    verbose_name_plural = "sub-teams"


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ["name", "parent", "manager", "created_at"]
    list_filter = ["parent"]
    search_fields = ["name", "manager__username", "manager__last_name"]
    autocomplete_fields = ["manager", "parent"]
    list_select_related = ["parent", "manager"]
    inlines = [SubTeamInline]
