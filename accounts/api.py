"""Read-only API for teams and users, to find the ids the KPI endpoint takes."""

import django_filters
from rest_framework import serializers, viewsets

from api.filters import id_filter

from .access import restrict
from .models import Team, User


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "parent", "manager"]
        extra_kwargs = {
            "name": {"help_text": "The team's name, unique."},
            "parent": {"help_text": "The id of the team above it; null at the top."},
            "manager": {"help_text": "The manager's user id; null when it has none."},
        }


class UserSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(
        source="get_full_name", read_only=True, help_text="First and last name."
    )

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "email", "role", "team"]
        extra_kwargs = {
            "email": {"help_text": "Email address; may be empty."},
            "role": {"help_text": "rep, manager or admin: what the person sees and sets."},
            "team": {"help_text": "The id of the person's team; null for none."},
        }


class TeamFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="iexact", help_text="The name, in any case.")
    parent = id_filter("parent", "The id of the team above (its direct sub-teams).")

    class Meta:
        model = Team
        fields = ["name", "parent"]


class UserFilter(django_filters.FilterSet):
    username = django_filters.CharFilter(
        lookup_expr="iexact", help_text="The username, in any case."
    )
    team = id_filter("team", "The team's id (its own members only).")

    class Meta:
        model = User
        fields = ["username", "team", "role"]


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    """Teams the caller may see: admins all, managers their tree, reps their own."""

    queryset = Team.objects.none()  # for the schema; requests use get_queryset
    serializer_class = TeamSerializer
    filterset_class = TeamFilter
    ordering_fields = ["name", "id"]

    def get_queryset(self):
        return restrict(Team.objects.order_by("name"), self.request.user)


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """People the caller may see: admins all, managers their teams, reps themselves."""

    queryset = User.objects.none()
    serializer_class = UserSerializer
    filterset_class = UserFilter
    ordering_fields = ["username", "id"]

    def get_queryset(self):
        return restrict(User.objects.order_by("username"), self.request.user)
