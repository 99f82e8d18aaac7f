"""API tokens: POST /api/v1/auth/token/, and their revocation.

The view is DRF's, answering a locked-out account.

django-axes counts the failures here too (DRF's serializer passes the request to
authenticate()), but it marks the lockout on DRF's request wrapper, which Axes' middleware
never sees; without this view a locked account would get the generic 400 "unable to log
in". It gets the lockout's 429 JSON instead, with the time to try again.

Revocation: a token is as good as the password it was obtained with. It is deleted when
the stored password hash changes or the user is deactivated (DRF refuses an inactive
user's token too, but a deleted one cannot come back on reactivation). This is done at the
user's save, not in a service, because every path that changes a password ends there: the
admin's form, the reset page, `set_password()` + `save()` in a shell, any later one. A
check in the authentication class instead would need the hash each token was made with,
which DRF's Token does not store. Only a queryset `.update()` of the password bypasses it.
"""

from django.conf import settings
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser

from api.errors import LimitedJSONParser

from .lockout import lockout_json


class ObtainTokenView(ObtainAuthToken):
    # DRF's view brings its own parsers; its JSON one has neither the API's size nor depth
    # limit, and anyone may post here.
    parser_classes = (FormParser, MultiPartParser, LimitedJSONParser)
    # api.schema puts this in the OpenAPI schema, with the `{detail}` shape.
    schema_error_responses = {
        "post": {
            429: "The account is locked after too many failed logins: `detail` says until "
            "when, `locked_until` gives it as ISO 8601, `Retry-After` in seconds."
        }
    }

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            if getattr(request, "axes_locked_out", False):
                return lockout_json(str(request.data.get("username", "")))
            raise


obtain_token = ObtainTokenView.as_view()


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.tokens.watch")
def _note_credential_change(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Mark the user whose password hash changes or who is deactivated by this save."""
    instance._revoke_tokens = False
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # a sign-in saves last_login only: no extra query for it
    stored = sender._default_manager.filter(pk=instance.pk).values("password", "is_active")
    before = stored.first()
    instance._revoke_tokens = before is not None and (
        before["password"] != instance.password or (before["is_active"] and not instance.is_active)
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.tokens.revoke")
def _revoke_tokens(sender, instance, **kwargs) -> None:
    """Delete the API tokens of a user marked by _note_credential_change."""
    if getattr(instance, "_revoke_tokens", False):
        Token.objects.filter(user=instance).delete()
        instance._revoke_tokens = False
