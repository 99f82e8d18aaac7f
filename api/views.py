"""The API's own views, about no app: the JSON 404 for any URL under /api/v1/ that names
no endpoint."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@permission_classes([AllowAny])  # nothing here to protect
def not_found(request, path: str = ""):
    """Any other URL under /api/v1/ (a misspelt endpoint, an id that is not a number, like
    deals/1.5/): a JSON 404 like every other API error, not the site's HTML page."""
    raise NotFound("No endpoint has this URL; see /api/v1/docs/.")
