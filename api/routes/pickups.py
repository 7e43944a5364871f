"""POST /v1/pickups/verify: a pickup leader hands over a redeemed item, once (the codes
are api/pickup_codes.py, the pick lists api/pickups.py)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import schemas
from ..access import leader_refusal
from ..errors import JSON, answer, error, refusal
from ..pickup_codes import ANY_LEADER, CodeInvalid, leader_key, read_code, verify_code
from ..pickups import PICKUP_RETENTION_DAYS, hand_over
from ..redeem import issued_by_attempt
from .deps import ServiceDep

router = APIRouter(tags=["points"])
_VERIFIED = {"handed_over": True, "member_id": "M00001", "redemption_id": "OATMEAL-LOWGI", "leader_id": "L001"}


@router.post(
    "/v1/pickups/verify",
    response_model=schemas.PickupVerified,
    summary="A pickup leader hands over a redeemed item: the code is checked and used, once",
    responses={
        200: answer("Issued, for this leader (or any leader), and now handed over", _VERIFIED),
        403: refusal(
            "`invalid_code` (not a code, or its tag does not match), "
            "`not_issued` (no redemption issued it: not on the leader's pick "
            "list, or older than the pick lists keep), `wrong_leader` (issued "
            "for another leader), or `forbidden_scope` (the API key does not "
            "act for this leader)"
        ),
        409: refusal("`already_handed_over`"),
        422: refusal("A field is wrong"),
        503: refusal(schemas.UNAVAILABLE),
    },
)
async def verify_pickup(body: schemas.PickupVerifyRequest, request: Request, service: ServiceDep) -> Response:
    """The code's tag is checked with the leader's key (the check a leader's app can
    make offline); then, in one Redis script on the leader's pick list, the code must
    have been issued by a redemption and not yet handed over, and is marked handed
    over. A code made out to another leader is refused; a code for any leader (a
    member without one) may be handed over by any leader, once."""
    refusal = leader_refusal(request.scope.get("state", {}).get("grant"), body.leader_id)
    if refusal is not None:
        return error(403, "forbidden_scope", refusal, "leader_id")
    try:
        claims = read_code(body.code)
        verify_code(leader_key(service.pickup_secret(), claims.leader_id), body.code)
    except CodeInvalid as exc:
        return error(403, "invalid_code", str(exc), "code")
    if claims.leader_id not in (body.leader_id, ANY_LEADER):
        return error(403, "wrong_leader", f"this code is for leader {claims.leader_id}", "leader_id")
    now = service.now(request.scope)
    done = await service.redis_call(hand_over(service.scripts, claims.leader_id, body.code, now))
    if done[0] == "pending":  # its request stopped half way: the attempt's own record decides
        paid = await service.redis_call(
            issued_by_attempt(service.redis, service.scripts, claims.leader_id, body.code, done[1], done[2])
        )
        done = (
            await service.redis_call(hand_over(service.scripts, claims.leader_id, body.code, now))
            if paid
            else ("not_issued",)
        )
    if done[0] in ("not_issued", "pending"):
        return error(
            403,
            "not_issued",
            f"no redemption issued this code (or it is older than {PICKUP_RETENTION_DAYS} days)",
            "code",
        )
    if done[0] == "already_handed_over":
        return error(409, "already_handed_over", "this code was handed over already", "code")
    return Response(
        orjson.dumps(
            {
                "handed_over": True,
                "member_id": claims.member_id,
                "redemption_id": claims.redemption_id,
                "leader_id": body.leader_id,
            }
        ),
        media_type=JSON,
    )
