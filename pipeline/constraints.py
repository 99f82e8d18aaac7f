"""Model validation that asks the database once for all of a model's CHECK constraints.

Django's `Model.validate_constraints` asks one query per CheckConstraint and, inside a
transaction, wraps each in a savepoint: a deal save validated 2 checks in 6 queries, a
lead save 3 in 9 (tests/benchmarks/writes.py counts every query of a write). Here the
checks are one SELECT of one boolean column each, in one savepoint, with Django's own
semantics: a NULL condition holds, a check naming an excluded field is skipped, and a
database error counts as holding (the save itself then meets the real constraint).
"""

import logging
from contextlib import nullcontext

from django.core.exceptions import FieldError, ValidationError
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import BooleanField, CheckConstraint, ExpressionWrapper, Q, Value
from django.db.models.functions import Coalesce
from django.db.models.sql import Query
from django.db.models.sql.constants import SINGLE

logger = logging.getLogger(__name__)


class ChecksInOneQuery(models.Model):
    """Base of a model (without other parents) whose CheckConstraints are validated at once."""

    class Meta:
        abstract = True

    def validate_constraints(self, exclude=None) -> None:
        using = router.db_for_write(self.__class__, instance=self)
        errors: dict = {}
        checks = []
        for constraint in self._meta.constraints:
            if isinstance(constraint, CheckConstraint):
                checks.append(constraint)
                continue
            try:
                constraint.validate(self.__class__, self, exclude=exclude, using=using)
            except ValidationError as refused:
                fields: tuple[str, ...] = tuple(getattr(constraint, "fields", ()))
                if getattr(refused, "code", None) == "unique" and len(fields) == 1:
                    errors.setdefault(fields[0], []).append(refused)
                else:
                    errors = refused.update_error_dict(errors)
        for broken in self._broken_checks(checks, exclude, using):
            message = broken.get_violation_error_message()
            refusal = ValidationError(message, code=broken.violation_error_code)
            errors = refusal.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def _broken_checks(self, checks, exclude, using) -> list[CheckConstraint]:
        if not checks:
            return []
        against = self._get_field_expression_map(meta=self._meta, exclude=exclude)  # type: ignore[attr-defined]
        query = Query(None)
        for name, value in against.items():
            if not hasattr(value, "resolve_expression"):
                value = Value(value)
            query.add_annotation(value, name, select=False)
        asked: list[CheckConstraint] = []
        for constraint in checks:
            holds = Coalesce(
                ExpressionWrapper(Q(constraint.condition), output_field=BooleanField()),
                Value(True),
                output_field=BooleanField(),
            )
            try:
                query.add_annotation(holds, f"_check_{len(asked)}")
            except FieldError:  # names an excluded field: not checked, as in Django
                continue
            asked.append(constraint)
        if not asked:
            return []
        connection = connections[using]
        guard = transaction.atomic(using=using) if connection.in_atomic_block else nullcontext()
        try:
            with guard:
                row = query.get_compiler(using=using).execute_sql(SINGLE)
        except DatabaseError as problem:
            logger.warning("Could not check %s's constraints: %s", self.__class__, problem)
            return []
        return [constraint for constraint, holds in zip(asked, row, strict=True) if not holds]
