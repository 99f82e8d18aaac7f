"""Who may see what: the role rules of DESIGN.md as pure predicates."""

from .choices import Role


def is_admin(user) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.role == Role.ADMIN))


def is_manager(user) -> bool:
    return bool(user.is_authenticated and user.role == Role.MANAGER)
