"""POST /api/v1/auth/token/: DRF's token view, answering a locked-out account.

django-axes counts the failures here too (DRF's serializer passes the request to
authenticate()), but it marks the lockout on DRF's request wrapper, which Axes' middleware
never sees; without this view a locked account would get the generic 400 "unable to log
in". It gets the lockout's 429 JSON instead, with the time to try again.
"""

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
