"""What a route asks FastAPI for: the worker's Service, and the brand a request reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from ..service import Service


async def service_of(request: Request) -> Service:
    """Async: a plain function would be called in a worker thread, on every request."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(service_of)]


async def brand_of_request(
    service: ServiceDep,
    brand: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z0-9][a-z0-9-]{0,31}$",
            description="The brand whose members and stock are read (docs/BRANDS.md); the home brand by default.",
        ),
    ] = None,
) -> Any:
    """The `?brand=` of a member or stock route: the request's keys become that brand's,
    and the route gets what serves its table (422 on `brand` for a brand not served)."""
    return service.enter_brand(brand)


BrandDep = Annotated[Any, Depends(brand_of_request)]
