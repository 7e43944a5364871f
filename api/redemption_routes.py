"""The redemption and pickup routes (the flow itself is api/redeem.py)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Callable, Optional

import orjson
from fastapi import FastAPI, Header, Request
from fastapi.responses import Response

from engine import codes

from . import schemas
from .eligibility import pricing
from .access import RateWindow, leader_refusal
from .pickup_codes import ANY_LEADER, CodeInvalid, load_secret, read_code, verify_code, leader_key
from .pickups import PICKUP_RETENTION_DAYS, hand_over
from .redeem import issued_by_attempt, recover, redeem
from .redis.keys import member_key
from .redis.scripts import Scripts
from .store import record_from_hash

log = logging.getLogger("rights.api")
JSON = "application/json"
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}\Z")
_LEADER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
RECOVERY_EVERY_SECONDS = 5.0
_REDEEMED = {"redemption_id": "OATMEAL-LOWGI", "member_id": "M00001", "points": 1800, "cash": 0, "balance": 50,
             "pickup_code": "P1~M00001~OATMEAL-LOWGI~L001~123456789~AbCdEfGhIjKlMnOpQrSt", "leader_id": "L001",
             "at": 1794405600}
_VERIFIED = {"handed_over": True, "member_id": "M00001", "redemption_id": "OATMEAL-LOWGI", "leader_id": "L001"}


def add_redemption_routes(app: FastAPI, service, error: Callable, clock: Callable) -> None:
    state: dict = {}

    def scripts() -> Scripts:
        if state.get("client") is not service.redis:
            state["client"] = service.redis
            state["scripts"] = Scripts(service.redis)
        return state["scripts"]

    def secret() -> bytes:
        if "secret" not in state:
            state["secret"] = load_secret(service.settings.data_dir)
        return state["secret"]

    @app.post("/v1/redemptions", tags=["points"], response_model=schemas.RedemptionResult,
              summary="Redeem an item with points, exactly once per Idempotency-Key",
              responses={200: {"description": "Redeemed: points taken, a unit of stock taken, a pickup code",
                               "content": {JSON: {"example": _REDEEMED}}},
                         400: {"model": schemas.ErrorResponse, "description": "Malformed JSON"},
                         403: {"model": schemas.ErrorResponse, "description": "The member is frozen"},
                         404: {"model": schemas.ErrorResponse, "description": "No such member or item"},
                         409: {"model": schemas.ErrorResponse,
                               "description": "Not possible now (the error's code says why: `out_of_stock`, "
                                              "`insufficient_points`, `points_debt`, `member_limit_reached`, "
                                              "`outside_window`, `tier_too_low`, `tier_not_eligible`, `not_in_room`, "
                                              "`task_locked`), or `in_progress`: the first request with this "
                                              "key is still running"},
                         422: {"model": schemas.ErrorResponse,
                               "description": "A field is wrong, the Idempotency-Key header is missing, or the "
                                              "key was used with another body (`idempotency_key_reused`)"},
                         429: {"model": schemas.ErrorResponse,
                               "description": "Too many attempts from this member this minute; see Retry-After"},
                         503: {"model": schemas.ErrorResponse, "description": schemas.UNAVAILABLE}})
    async def post_redemption(body: schemas.RedemptionRequest, request: Request,
                              idempotency_key: Optional[str] = Header(None, alias="Idempotency-Key")) -> Response:
        """Atomically for the member: the window is open, the unlock is met, the tier is
        enough, the per-member limit and the stock allow it and the balance covers it;
        then the points are taken (oldest lots first), one unit of stock is taken, a
        ledger entry is written and a signed pickup code is issued and put on the member's
        pickup leader's list. The answer, success or refusal, is kept for 48 hours under
        the member and the key: a replay returns it byte for byte, and is not counted
        against the member's attempts a minute."""
        if idempotency_key is None or not _KEY.match(idempotency_key):
            return error(422, "invalid_request", "give an Idempotency-Key header: 1 to 128 of A-Z a-z 0-9 _ . : -",
                         "Idempotency-Key")
        now = clock(request.scope)
        table = service.table
        index = table.redemption_index.get(body.redemption_id)
        if index is None:
            return error(404, "unknown_redemption", f"no redemption {body.redemption_id!r} in the rules",
                         "redemption_id")
        if body.room is not None and body.room not in table.room_index:
            return error(422, "invalid_request", f"unknown room {body.room!r}", "room")
        item = table.model.redemptions[index]
        raw = await service.redis_call(service.redis.hgetall(member_key(body.member_id)))
        record = record_from_hash(body.member_id, raw)
        status, hint = "ok", 0
        leader = None
        if record is not None:
            _, member = pricing(record, now)
            verdict = service.evaluator.quote(table, member, body.room, now, []).to_raw().redemptions[index]
            status, hint = codes.REASONS[verdict[0]] or "ok", verdict[1]
            leader = record.leader if record.leader and _LEADER.match(record.leader) else None
        answer = await service.redis_call(redeem(
            service.redis, scripts(), request=body.model_dump(mode="json"), key=idempotency_key, now=now, item=item,
            engine_status=status, engine_hint=hint, leader_id=leader, secret=secret(),
            rate=RateWindow.now(body.member_id, "redemptions", service.settings.redemptions_per_minute)))
        if answer.status == 200 and not answer.replayed:
            service.dashboard.redeemed(body.room, item.id)
        headers = {"Retry-After": str(answer.retry_after)} if answer.retry_after is not None else None
        return Response(answer.body, answer.status, media_type=JSON, headers=headers)

    @app.post("/v1/pickups/verify", tags=["points"], response_model=schemas.PickupVerified,
              summary="A pickup leader hands over a redeemed item: the code is checked and used, once",
              responses={200: {"description": "Issued, for this leader (or any leader), and now handed over",
                               "content": {JSON: {"example": _VERIFIED}}},
                         403: {"model": schemas.ErrorResponse,
                               "description": "`invalid_code` (not a code, or its tag does not match), "
                                              "`not_issued` (no redemption issued it: not on the leader's pick "
                                              "list, or older than the pick lists keep), `wrong_leader` (issued "
                                              "for another leader), or `forbidden_scope` (the API key does not "
                                              "act for this leader)"},
                         409: {"model": schemas.ErrorResponse, "description": "`already_handed_over`"},
                         422: {"model": schemas.ErrorResponse, "description": "A field is wrong"},
                         503: {"model": schemas.ErrorResponse, "description": schemas.UNAVAILABLE}})
    async def verify_pickup(body: schemas.PickupVerifyRequest, request: Request) -> Response:
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
            verify_code(leader_key(secret(), claims.leader_id), body.code)
        except CodeInvalid as exc:
            return error(403, "invalid_code", str(exc), "code")
        if claims.leader_id not in (body.leader_id, ANY_LEADER):
            return error(403, "wrong_leader", f"this code is for leader {claims.leader_id}", "leader_id")
        now = clock(request.scope)
        done = await service.redis_call(hand_over(scripts(), claims.leader_id, body.code, now))
        if done[0] == "pending":  # its request stopped half way: the attempt's own record decides
            paid = await service.redis_call(issued_by_attempt(service.redis, scripts(), claims.leader_id, body.code,
                                                              done[1], done[2]))
            done = await service.redis_call(hand_over(scripts(), claims.leader_id, body.code, now)) \
                if paid else ("not_issued",)
        if done[0] in ("not_issued", "pending"):
            return error(403, "not_issued", "no redemption issued this code (or it is older than "
                                            f"{PICKUP_RETENTION_DAYS} days)", "code")
        if done[0] == "already_handed_over":
            return error(409, "already_handed_over", "this code was handed over already", "code")
        return Response(orjson.dumps({"handed_over": True, "member_id": claims.member_id,
                                      "redemption_id": claims.redemption_id, "leader_id": body.leader_id}),
                        media_type=JSON)

    async def recover_forever() -> None:
        """Settle what crashed attempts left half done (see api/redeem.py), every few seconds."""
        while True:
            await asyncio.sleep(RECOVERY_EVERY_SECONDS)
            with contextlib.suppress(Exception):
                settled = await recover(service.redis, scripts())
                if any(settled.values()):
                    log.warning("redemption recovery: %s", settled)

    service.background.append(recover_forever)
