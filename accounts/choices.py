from django.db import models


class Role(models.TextChoices):
    REP = "rep", "Sales rep"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"
