"""One-time tokens for create forms: the same form submitted twice saves one row.

A create form carries a token in a hidden field (`{% form_token %}`): a random nonce
signed for the user and the kind of form, so a token is worthless to anyone else. Saving
claims the nonce by inserting a FormSubmission row in the same transaction as the new
row; the unique constraint makes a second claim, even at the same moment in another web
process, fail, and the second answer shows the row the first one saved. A save refused by
validation rolls its claim back, so the re-shown form keeps its token.

A token is good for TOKEN_MAX_AGE; the nightly prune deletes claims older than that, so
the table stays small and a pruned claim's token is refused by its age, not saved again.
"""

import datetime as dt
import secrets
from collections.abc import Callable
from typing import TypeVar

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from .models import FormSubmission

FIELD = "form_token"
REFUSED = (
    "This form could not be checked: it is incomplete or was opened by someone else. "
    "Check the fields and submit it again."
)
TWICE = "This form was sent twice; it was saved once."
Kind = FormSubmission.Kind
Row = TypeVar("Row", bound=models.Model)
# A form left open over a long weekend still saves; older ones are re-shown with a fresh
# token (REFUSED), never saved twice.
TOKEN_MAX_AGE = dt.timedelta(days=7)


class AlreadySubmitted(Exception):
    """The form was saved before; `object_id` is the row it made."""

    def __init__(self, object_id: int):
        super().__init__(object_id)
        self.object_id = object_id


def _signer(*, user, kind: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"pipeline.submissions:{kind}:{user.pk}")


def form_token_issue(*, user, kind: str) -> str:
    """A fresh token for one form of `kind`, good for `user` only."""
    return _signer(user=user, kind=kind).sign(secrets.token_urlsafe(24))


def form_token_nonce(*, token: str | None, user, kind: str) -> str | None:
    """The nonce of a token issued to `user` for `kind`; None for anything else."""
    if not token:
        return None
    try:
        return _signer(user=user, kind=kind).unsign(token, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired included
        return None


def submit_once(*, nonce: str, user, kind: str, save: Callable[[], Row]) -> Row:
    """Claim the nonce and save, in one transaction; raise AlreadySubmitted when the
    nonce was claimed before (the first submission's transaction has committed then: on
    PostgreSQL the insert waits for it, on SQLite writers take turns)."""
    # A savepoint when the caller is in a transaction already: a refused save rolls back
    # the claim alone and leaves the caller's transaction usable.
    with transaction.atomic():
        try:
            with transaction.atomic():
                claim = FormSubmission.objects.create(token=nonce, user=user, kind=kind)
        except IntegrityError:
            claim = None
        if claim is not None:
            row = save()
            FormSubmission.objects.filter(pk=claim.pk).update(object_id=row.pk)
            return row
    earlier = (
        FormSubmission.objects.filter(token=nonce, user=user, kind=kind)
        .values_list("object_id", flat=True)
        .first()
    )
    if earlier is None:  # another user's or kind's nonce: not this form's
        raise ValidationError(REFUSED)
    raise AlreadySubmitted(earlier)


def form_submissions_prune(*, now: dt.datetime | None = None) -> int:
    """Delete the claims whose tokens have expired (an hour's margin for clocks); returns
    how many. Run nightly by beat."""
    cutoff = (now or timezone.now()) - TOKEN_MAX_AGE - dt.timedelta(hours=1)
    deleted, _ = FormSubmission.objects.filter(created_at__lt=cutoff).delete()
    return deleted
