"""The pipeline's endpoints: deals and leads (with their moves), and the reference data
deals point at (companies, stages, products, lead sources).

Every deal and lead is read through visible_to(user), so one the caller may not see is a
404; writes check accounts.access (visible but not writable is a 403) and go through
pipeline.services, like the pages, so moves leave StageChanges and the won/lost rules hold.
A service's ValidationError becomes a 400 naming the field (api/errors.py).
"""

from .catalogue import (
    CompanySerializer,
    CompanyViewSet,
    LeadSourceSerializer,
    LeadSourceViewSet,
    ProductSerializer,
    ProductViewSet,
    StageSerializer,
    StageViewSet,
)
from .deals import DealCreateSerializer, DealMoveSerializer, DealSerializer, DealViewSet
from .leads import (
    LeadConvertSerializer,
    LeadCreateSerializer,
    LeadSerializer,
    LeadStatusSerializer,
    LeadViewSet,
)

__all__ = [
    "CompanySerializer",
    "CompanyViewSet",
    "DealCreateSerializer",
    "DealMoveSerializer",
    "DealSerializer",
    "DealViewSet",
    "LeadConvertSerializer",
    "LeadCreateSerializer",
    "LeadSerializer",
    "LeadSourceSerializer",
    "LeadSourceViewSet",
    "LeadStatusSerializer",
    "LeadViewSet",
    "ProductSerializer",
    "ProductViewSet",
    "StageSerializer",
    "StageViewSet",
]
