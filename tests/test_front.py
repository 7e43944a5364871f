"""The front (api/front.py) answers POST /v1/eligibility exactly as the route answered
inside FastAPI's layers: the same status, headers and bytes for good carts and for every
refusal, and the same requests seen by the metrics, the access log and the in-flight count.

The reference is the app with the front taken away and the route served as it was before
it: a plain Starlette route matched first, behind Starlette's error middleware, the app's
middleware (api/middleware.py), its exception handlers and the router."""

from __future__ import annotations

import orjson
import pytest
from conftest import app_settings, at
from fastapi.testclient import TestClient
from starlette.responses import Response
from starlette.routing import Route

import api.front as front_module
import api.middleware as middleware_module
from api.checkout.decide import decide
from api.errors import JSON, RedisUnavailable, error
from api.main import create_app
from api.members_io import demo_members
from api.service import Service
from api.store import MemberRecord, write_members

GALA_21 = at("2026-11-11 21:00")
NOW = {"X-Rights-Now": str(GALA_21)}
LIMIT = 4096
KEYS = (
    "shop=shop-0123456789abcdef checkout; erp=erp-0123456789abcdef backend; "
    "grainapp=grain-checkout-key-0123 checkout brand:grain"
)
CART = [
    {"sku": "MILK-1L", "qty": 2},
    {"sku": "YOGURT-6", "qty": 1},
    {"sku": "POWDER-900", "qty": 1},
    {"sku": "BUTTER-250", "qty": 1},
    {"sku": "CHEESE-KIDS", "qty": 2},
]
GOOD = [
    {"member_id": "G1", "room": "gala", "lines": CART},
    {"identity": {"channel": "openid", "value": "oGOLD1"}, "room": "gala", "lines": CART},
    {"member_id": "BG1", "lines": [{"sku": "CHEESE-LTD", "qty": 1}], "fulfillment": "pickup"},
    {"room": "gala", "lines": [{"sku": "MILK-1L", "qty": 1}]},  # a visitor: a join offer
    {"member_id": "LAPSED", "room": "gala", "lines": CART},
    {"member_id": "NOBODY", "lines": []},
    {"identity": {"channel": "phone", "value": "13900000001"}, "lines": [{"sku": "NO-SUCH-SKU", "qty": 1}]},
    {"lines": CART, "location": {"lat": 31.2, "lon": 121.5}, "brand": None},
]
REFUSED = [
    b"{",
    b"",
    b"[]",
    b'{"lines": 1}',
    b'{"lines": [{"sku": "MILK-1L", "qty": 0}]}',
    b'{"bogus": 1, "lines": []}',
    b'{"member_id": "G1", "identity": {"channel": "openid", "value": "x"}, "lines": []}',
    b'{"brand": "nowhere", "lines": []}',
    b'{"lines": [], "fulfillment": "drone"}',
    b'{"lines": []' + b" " * LIMIT + b"}",  # 413, by its Content-Length
]


class BeforeTheFront:
    """POST /v1/eligibility as the app served it inside FastAPI: the body bounded, `decide`."""

    async def __call__(self, scope, receive, send) -> None:
        service: Service = scope["app"].state.service
        limit = service.settings.max_body_bytes
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > limit:
                return await error(413, "body_too_large", f"the body is larger than {limit} bytes")(
                    scope, receive, send
                )
            if not message.get("more_body"):
                break
        answer = await decide(service, body, service.now(scope))
        response = answer if isinstance(answer, Response) else Response(answer, media_type=JSON)
        await response(scope, receive, send)


def apps(redis_server, **settings):
    """(the app with its front, the reference without it), on the same Redis and settings."""
    served = create_app(app_settings(redis_server, max_body_bytes=LIMIT, **settings))
    reference = create_app(app_settings(redis_server, max_body_bytes=LIMIT, **settings))
    reference.front = None
    reference.router.routes.insert(0, Route("/v1/eligibility", BeforeTheFront(), methods=["POST"]))
    return served, reference


@pytest.fixture
def members(redis_client):
    write_members(redis_client, demo_members(20))
    write_members(
        redis_client,
        [
            MemberRecord(id="BG1", tier="black_gold", points=1850, identities={"phone": "13900000001"}),
            MemberRecord(id="G1", tier="gold", points=1850, birthday_month=3, identities={"openid": "oGOLD1"}),
            MemberRecord(id="LAPSED", tier="gold", points=500, paid_until=GALA_21 - 86400),
        ],
    )


def answered(client: TestClient, body, headers=None, method="POST"):
    content = body if isinstance(body, bytes | list) else orjson.dumps(body)
    if isinstance(content, list):  # sent in pieces, without a Content-Length
        pieces = content
        content = iter(pieces)
    response = client.request(method, "/v1/eligibility", content=content, headers={**NOW, **(headers or {})})
    return response.status_code, response.headers.raw, response.content


def both(redis_server, requests, client_options=None, **settings):
    """Each request's answer from the app with its front and from the reference."""
    served, reference = apps(redis_server, **settings)
    with TestClient(served, **(client_options or {})) as ours, TestClient(reference, **(client_options or {})) as old:
        return [(answered(ours, *request), answered(old, *request)) for request in requests]


def test_every_answer_is_the_routes_byte_for_byte(redis_server, members):
    requests = [(body,) for body in GOOD + REFUSED]
    requests.append(([b'{"lines": [', b"]" + b" " * LIMIT, b"}"],))  # 413 while read in pieces
    requests.append(([b'{"member_id": "G1", ', b'"lines": []}'],))  # a body in pieces, under the limit
    requests.append((b"", None, "GET"))  # any other method: 405, from the documented route
    results = both(redis_server, requests)
    for ours, before in results:
        assert ours == before
    assert sorted({ours[0] for ours, _ in results}) == [200, 400, 405, 413, 422]


def test_behind_a_path_prefix_the_front_still_answers(redis_server, members):
    served, reference = apps(redis_server)
    with TestClient(served, root_path="/shop") as ours, TestClient(reference, root_path="/shop") as old:
        body = orjson.dumps({"member_id": "G1", "room": "gala", "lines": CART})
        answers = [client.post("/shop/v1/eligibility", content=body, headers=NOW) for client in (ours, old)]
    assert answers[0].status_code == 200
    assert (answers[0].headers.raw, answers[0].content) == (answers[1].headers.raw, answers[1].content)


def test_the_key_checks_answer_as_before(redis_server, members):
    cart = {"lines": CART}
    requests = [
        (cart, {}),  # 401
        (cart, {"X-Api-Key": "shop-0123456789abcdeX"}),  # 403
        (cart, {"X-Api-Key": "erp-0123456789abcdef"}),  # 403 forbidden_scope: backend only
        (cart, {"X-Api-Key": "grain-checkout-key-0123"}),  # 403 forbidden_scope: brand
        (cart, {"X-Api-Key": "shop-0123456789abcdef"}),  # 200
        (b"{" + b" " * LIMIT, {"X-Api-Key": "erp-0123456789abcdef"}),  # the scope is refused before the size
    ]
    results = both(redis_server, requests, api_keys=KEYS)
    for ours, before in results:
        assert ours == before
    assert [ours[0] for ours, _ in results] == [401, 403, 403, 403, 200, 403]
    codes = [orjson.loads(ours[2]).get("error", {}).get("code") for ours, _ in results]
    assert codes == ["unauthorized", "forbidden", "forbidden_scope", "forbidden_scope", None, "forbidden_scope"]


def test_a_worker_full_of_requests_and_redis_gone_answer_as_before(redis_server, members, monkeypatch):
    monkeypatch.setattr(middleware_module, "MAX_IN_FLIGHT", 0)
    overloaded = both(redis_server, [({"lines": CART},)])
    assert overloaded[0][0] == overloaded[0][1] and overloaded[0][0][0] == 503
    assert (b"retry-after", b"1") in overloaded[0][0][1]
    monkeypatch.undo()

    async def unavailable(self, req):
        raise RedisUnavailable("Redis unavailable: it does not answer")

    monkeypatch.setattr(Service, "fetch_member", unavailable)
    down = both(redis_server, [({"member_id": "G1", "lines": CART},)])
    assert down[0][0] == down[0][1] and down[0][0][0] == 503
    assert orjson.loads(down[0][0][2])["error"]["code"] == "redis_unavailable"

    async def broken(self, req):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Service, "fetch_member", broken)
    failed = both(redis_server, [({"member_id": "G1", "lines": CART},)], {"raise_server_exceptions": False})
    assert failed[0][0] == failed[0][1] and failed[0][0][0] == 500


def test_the_metrics_the_access_log_and_the_in_flight_count_see_the_route(redis_server, members, monkeypatch, capsys):
    app = create_app(app_settings(redis_server, access_log=True))
    gate = app.front.gate
    seen = []

    async def counted(service, body, now):
        seen.append(gate.in_flight)
        return await decide(service, body, now)

    monkeypatch.setattr(front_module, "decide", counted)
    with TestClient(app) as client:
        capsys.readouterr()
        assert answered(client, {"member_id": "G1", "lines": CART})[0] == 200
        assert answered(client, b"{")[0] == 400
        assert client.get("/v1/noop").status_code == 200
        log = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        requests = dict(app.state.service.metrics.requests)
        latency = app.state.service.metrics.latency
    assert seen == [1, 1] and gate.in_flight == 0
    assert [(line["method"], line["path"], line["status"]) for line in log] == [
        ("POST", "/v1/eligibility", 200),
        ("POST", "/v1/eligibility", 400),
        ("GET", "/v1/noop", 200),
    ]
    assert requests[("/v1/eligibility", "POST", "200")] == 1 and requests[("/v1/eligibility", "POST", "400")] == 1
    assert latency["/v1/eligibility"].n == 2
