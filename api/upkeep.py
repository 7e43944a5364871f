"""The loops a worker runs beside its requests, started and cancelled by the lifespan:
metrics and big-screen counts published each second, the pickup leaders kept current,
and what crashed order and redemption attempts left half done settled every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .redeem import recover as recover_redemptions
from .redis.keys import COUPONS
from .reservations import recover as recover_reservations
from .service import Service

log = logging.getLogger("rights.api")
RECOVERY_EVERY_SECONDS = 5.0


async def flush_dashboard(service: Service) -> None:
    while True:
        await asyncio.sleep(1.0)
        with contextlib.suppress(Exception):
            await service.dashboard.flush(service.redis)


def each_brand(service: Service) -> list[str]:
    """Every brand served, the home one first: a loop's keys are made each one's in turn."""
    return [service.home, *sorted(service.brands)]


async def recover_coupons(service: Service) -> None:
    """Coupon stock held by an order that stopped half way goes back, for every brand."""
    while True:
        await asyncio.sleep(RECOVERY_EVERY_SECONDS)
        for brand in each_brand(service):
            with contextlib.suppress(Exception):
                service.enter_brand(brand)
                await recover_reservations(service.redis, service.scripts, COUPONS)


async def recover_redeemed(service: Service) -> None:
    """Redemptions that stopped half way are settled (see api/redeem.py), for every brand."""
    while True:
        await asyncio.sleep(RECOVERY_EVERY_SECONDS)
        for brand in each_brand(service):
            with contextlib.suppress(Exception):
                service.enter_brand(brand)
                settled = await recover_redemptions(service.redis, service.scripts)
                if any(settled.values()):
                    log.warning("redemption recovery (brand %s): %s", brand, settled)


def loops(service: Service) -> list[Callable[[], Awaitable[None]]]:
    """Every loop the lifespan runs for this worker, with any extra ones it was given."""
    return [
        service.publish_metrics,
        lambda: flush_dashboard(service),
        lambda: service.leaders.keep_current(service.redis),
        lambda: recover_coupons(service),
        lambda: recover_redeemed(service),
        service.watch_brands,
        *service.background,
    ]
