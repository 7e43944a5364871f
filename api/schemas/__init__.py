"""The API's documented shapes (OpenAPI at /docs), one module per area. The eligibility
route does not validate through these models (it checks its input by hand on the hot
path, see api/checkout/request.py); they are the contract the checks and the responses
keep, tested in tests/test_api.py."""

from .checkout import (
    ELIGIBILITY_REQUEST_EXAMPLE,
    CouponApplied,
    CouponNotApplied,
    EligibilityRequest,
    EligibilityResponse,
    Hint,
    Identity,
    JoinOffer,
    Line,
    Location,
    MemberInfo,
    PointsEarned,
    QuoteLine,
    RedemptionOption,
    Totals,
)
from .errors import UNAVAILABLE, ErrorBody, ErrorResponse
from .orders import OrderRequest, OrderResult, RefundRequest, RefundResult
from .points import (
    EventRequest,
    EventResult,
    FreezeRequest,
    FreezeResult,
    LedgerEntry,
    LedgerPage,
    PickupVerified,
    PickupVerifyRequest,
    RedemptionRequest,
    RedemptionResult,
)

__all__ = [
    "CouponApplied",
    "CouponNotApplied",
    "ELIGIBILITY_REQUEST_EXAMPLE",
    "EligibilityRequest",
    "EligibilityResponse",
    "Hint",
    "Identity",
    "JoinOffer",
    "Line",
    "Location",
    "MemberInfo",
    "PointsEarned",
    "QuoteLine",
    "RedemptionOption",
    "Totals",
    "ErrorBody",
    "ErrorResponse",
    "UNAVAILABLE",
    "EventRequest",
    "EventResult",
    "FreezeRequest",
    "FreezeResult",
    "LedgerEntry",
    "LedgerPage",
    "PickupVerified",
    "PickupVerifyRequest",
    "RedemptionRequest",
    "RedemptionResult",
    "OrderRequest",
    "OrderResult",
    "RefundRequest",
    "RefundResult",
]
