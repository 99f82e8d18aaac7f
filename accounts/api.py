"""Read-only API for teams and users, to find the ids the KPI endpoint takes."""

import django_filters
from rest_framework import serializers, viewsets

from .models import Team, User
from .selectors import visible_teams, visible_users


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "parent", "manager"]


class UserSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(source="get_full_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "email", "role", "team"]


class TeamFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Team
        fields = ["name", "parent"]


class UserFilter(django_filters.FilterSet):
    username = django_filters.CharFilter(lookup_expr="iexact")

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
        return visible_teams(user=self.request.user).order_by("name")


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """People the caller may see: admins all, managers their teams, reps themselves."""

    queryset = User.objects.none()
    serializer_class = UserSerializer
    filterset_class = UserFilter
    ordering_fields = ["username", "id"]

    def get_queryset(self):
        return visible_users(user=self.request.user).order_by("username")
