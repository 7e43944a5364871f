"""What a route asks FastAPI for: the worker's Service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..service import Service


def service_of(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(service_of)]
