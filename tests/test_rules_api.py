"""Pushing rule tables to running servers: validation before anything changes, the swap,
schedules, rollback, a late worker, several worker processes, and the admin token."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from conftest import at, client_for, in_a_worker
from serving import wait_until

from engine.demo import DEMO_RULES

TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
GALA_21 = at("2026-11-11 21:00")
DEMO = DEMO_RULES.read_text()
CHEAPER_MILK = DEMO.replace("price: 1590\n", "price: 1490\n", 1).replace("name: dairy-gala", "name: cheaper-milk")


@pytest.fixture
def admin_env(monkeypatch):
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", TOKEN)


def milk_price(client) -> tuple:
    response = client.post(
        "/v1/eligibility",
        content=b'{"lines": [{"sku": "MILK-1L", "qty": 1}]}',
        headers={"X-Rights-Now": str(at("2026-11-12 10:00"))},
    )
    body = response.json()
    return body["lines"][0]["unit_price"], body["rules_version"]


def push(client, text: str, **params) -> dict:
    response = client.post("/v1/rules", content=text.encode(), params={"author": "ops-li", **params}, headers=ADMIN)
    return response


def before(instant: float) -> bool:
    """Still before `instant` now that the last answer is in: that answer was decided before it."""
    return time.time() < instant


def test_admin_routes_need_the_token(redis_client, redis_server, admin_env):
    with client_for(redis_server) as client:
        assert client.get("/v1/rules").status_code == 401
        assert client.get("/v1/rules", headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert client.get("/v1/rules", headers=ADMIN).status_code == 200


def test_admin_routes_are_off_without_a_token(redis_client, redis_server, monkeypatch):
    monkeypatch.delenv("RIGHTS_ADMIN_TOKEN", raising=False)
    with client_for(redis_server) as client:
        response = client.get("/v1/rules", headers=ADMIN)
        assert response.status_code == 403 and "RIGHTS_ADMIN_TOKEN" in response.json()["error"]["reason"]


def test_push_swaps_the_table_and_every_response_names_it(redis_client, redis_server, admin_env):
    with client_for(redis_server) as client:
        before_price, before_version = milk_price(client)
        assert before_price == 1590
        response = push(client, CHEAPER_MILK, label="cheaper-milk")
        assert response.status_code == 201, response.text
        pushed = response.json()
        assert pushed["activated"] is True and pushed["version"].startswith("cheaper-milk@")
        assert milk_price(client) == (1490, pushed["version"])
        status = client.get("/v1/rules", headers=ADMIN).json()
        assert status["active"]["version"] == pushed["version"] and status["active"]["author"] == "ops-li"
        assert status["history"][:2] == [pushed["version"], before_version]
        source = client.get(f"/v1/rules/{pushed['version']}", headers=ADMIN)
        assert source.status_code == 200 and source.text == CHEAPER_MILK


def test_a_table_with_errors_is_refused_and_the_active_one_stays(redis_client, redis_server, admin_env):
    broken = DEMO.replace("price: 1590\n", "price: 15.90\n", 1).replace("kind: fixed_price", "kind: bogus", 1)
    with client_for(redis_server) as client:
        before = milk_price(client)
        response = push(client, broken)
        assert response.status_code == 422
        problems = response.json()["problems"]
        assert {p["place"] for p in problems} >= {"products[0].price", "coupons[2].kind"}
        assert all(p["line"] for p in problems)
        assert milk_price(client) == before


@pytest.mark.parametrize(
    ("params", "text", "field"),
    [
        ({"label": "a/b"}, CHEAPER_MILK, "label"),
        ({"label": "x\ny"}, CHEAPER_MILK, "label"),
        ({"label": "v" * 65}, CHEAPER_MILK, "label"),
        ({"author": "ops\nli"}, CHEAPER_MILK, "author"),
        ({}, CHEAPER_MILK.replace("name: cheaper-milk", 'name: "cheaper/milk"'), None),
        ({}, CHEAPER_MILK.replace("name: cheaper-milk", 'name: "cheaper\\u0000milk"'), None),
        ({}, CHEAPER_MILK.replace("name: cheaper-milk", 'name: "cheaper@2026"'), None),
    ],
    ids=["slash-label", "newline-label", "long-label", "newline-author", "slash-name", "nul-name", "at-name"],
)
def test_a_version_that_could_not_be_named_is_refused_and_the_active_one_stays(
    redis_client, redis_server, admin_env, params, text, field
):
    """A version is named in URLs (GET /v1/rules/{version}), answers and logs: a label or
    table name with '/' or a control character would make one that cannot be read back."""
    with client_for(redis_server) as client:
        before_push = milk_price(client)
        response = push(client, text, **params)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        if field is None:
            assert error["code"] == "invalid_rules" and response.json()["problems"][0]["place"] == "name"
        else:
            assert error["field"] == field
        assert milk_price(client) == before_push
        assert push(client, CHEAPER_MILK, label="gala-v2.1:b_c").json()["version"].startswith("gala-v2.1:b_c@")


def test_rollback_restores_the_previous_prices(redis_client, redis_server, admin_env):
    with client_for(redis_server) as client:
        _, original = milk_price(client)
        push(client, CHEAPER_MILK)
        assert milk_price(client)[0] == 1490
        response = client.post("/v1/rules/rollback", headers=ADMIN)
        assert response.json() == {"version": original, "brand": "main", "activated": True}
        assert milk_price(client) == (1590, original)
        assert client.post("/v1/rules/rollback", json={"to": "nope@000"}, headers=ADMIN).status_code == 404


def test_a_rollback_body_with_a_stray_field_or_an_empty_to_changes_nothing(redis_client, redis_server, admin_env):
    """A misspelt `to` must not roll back to the previous version: the prices stay."""
    with client_for(redis_server) as client:
        push(client, CHEAPER_MILK)
        served = milk_price(client)
        for body, field in (
            ({"version": served[1]}, "version"),
            ({"t\u043e": served[1]}, "t\u043e"),  # a Cyrillic o
            ({"to": ""}, "to"),
            ({"to": ["x"]}, "to"),
            ({"to": 1}, "to"),
            ({"to": None}, "to"),
        ):
            refused = client.post("/v1/rules/rollback", json=body, headers=ADMIN)
            assert refused.status_code == 422, body
            assert refused.json()["error"]["field"] == field, body
        for body in (b"[1]", b'"to"', b"{"):
            refused = client.post("/v1/rules/rollback", content=body, headers=ADMIN)
            assert (refused.status_code, refused.json()["error"]["code"]) == (400, "malformed_json"), body
        form = {**ADMIN, "Content-Type": "application/x-www-form-urlencoded"}  # curl -d's type
        for path, body in (
            ("/v1/rules/rollback", b'{"to": "%s"}' % served[1].encode()),
            ("/v1/rules/simulate", b'{"carts": []}'),
        ):
            refused = client.post(path, content=body, headers=form)
            assert refused.status_code == 422 and "Content-Type: application/json" in refused.text, path
        refused = client.put("/v1/alliances/pool", content=b'{"brands": ["main", "grain"]}', headers=form)
        assert refused.status_code == 422 and "Content-Type: application/json" in refused.text
        assert milk_price(client) == served


@pytest.mark.slow  # waits for its instant
def test_a_scheduled_push_activates_at_its_instant(redis_client, redis_server, admin_env):
    with client_for(redis_server) as client:
        _, original = milk_price(client)
        due = int(time.time()) + 2
        response = push(client, CHEAPER_MILK, activate_at=str(due))
        assert response.status_code == 201
        # scheduled, unless its instant had passed when the server took the push
        assert response.json()["activated"] is (response.json()["pushed_at"] >= due)
        seen = milk_price(client)
        if before(due):
            assert seen == (1590, original)  # not before its instant
        scheduled = client.get("/v1/rules", headers=ADMIN).json()["scheduled"]
        if before(due):
            assert scheduled[0]["activate_at"] == due
        price, version = wait_until(
            lambda: (answer := milk_price(client))[0] == 1490 and answer, message="the scheduled prices"
        )
        assert (price, version) == (1490, response.json()["version"])
        active = client.get("/v1/rules", headers=ADMIN).json()["active"]
        assert active["version"] == version and active["activated_at"] >= due  # as Redis recorded it


@pytest.mark.parametrize(
    "activate_at", ["99999999999999999999", str(int(time.time()) + 367 * 86400), "-5", "2999-01-01T00:00:00+08:00"]
)
def test_a_push_scheduled_past_the_horizon_is_refused_and_status_stays_readable(
    redis_client, redis_server, admin_env, activate_at
):
    with client_for(redis_server) as client:
        response = push(client, CHEAPER_MILK, activate_at=activate_at)
        assert response.status_code == 422 and response.json()["error"]["field"] == "activate_at"
        assert client.get("/v1/rules", headers=ADMIN).json()["scheduled"] == []
        assert client.get("/dashboard/data", params={"room": "gala"}).status_code == 200


@pytest.mark.slow  # waits past its instant
def test_a_scheduled_version_can_be_cancelled_before_it_goes_live(redis_client, redis_server, admin_env):
    with client_for(redis_server) as client:
        _, original = milk_price(client)
        due = int(time.time()) + 2
        version = push(client, CHEAPER_MILK, activate_at=str(due)).json()["version"]
        cancelled = client.delete(f"/v1/rules/scheduled/{version}", headers=ADMIN)
        assert cancelled.json() == {"version": version, "cancelled": True}
        assert client.get("/v1/rules", headers=ADMIN).json()["scheduled"] == []
        wait_until(lambda: not before(due + 1), interval=0.1, message="its instant to pass")
        assert milk_price(client) == (1590, original)  # past its instant: still the original prices
        assert client.get(f"/v1/rules/{version}", headers=ADMIN).status_code == 200  # kept in the history
        again = client.delete(f"/v1/rules/scheduled/{version}", headers=ADMIN)
        assert (again.status_code, again.json()["error"]["code"]) == (404, "not_found")
        assert client.delete("/v1/rules/scheduled/x", headers={"Authorization": "Bearer wrong"}).status_code == 403


def test_a_worker_started_after_a_push_serves_the_pushed_version(redis_client, redis_server, admin_env):
    with client_for(redis_server) as first:
        pushed = push(first, CHEAPER_MILK).json()["version"]
    with client_for(redis_server) as late:
        assert milk_price(late) == (1490, pushed)


@pytest.mark.slow
def test_a_push_reaches_every_worker_process(redis_client, redis_server, serve):
    """Two worker processes of `rights serve`: both swap to a pushed table, and both swap a
    scheduled one at its instant, not before. How soon a push reaches them is a speed, so
    `rights bench reload` measures it (no answer names an inactive version beyond 1 s)."""
    import httpx

    server = serve(workers=2, env={"REDIS_URL": redis_server.url, "RIGHTS_ADMIN_TOKEN": TOKEN})
    with httpx.Client(base_url=server.url, timeout=5) as client:

        def workers() -> dict:
            return client.get("/v1/rules", headers=ADMIN).json()["workers"]

        def all_serve(version: str):
            seen = workers()
            return all(w["version"] == version for w in seen.values()) and seen

        wait_until(lambda: len(workers()) >= 2, message="both workers heard from")
        assert len(workers()) == 2, workers()
        pushed_at = time.time()
        response = client.post("/v1/rules", content=CHEAPER_MILK.encode(), params={"author": "ops"}, headers=ADMIN)
        pushed = response.json()
        swapped = wait_until(lambda: all_serve(pushed["version"]), message=f"every worker on {pushed['version']}")
        # pushed, then swapped by every worker (how fast is `rights bench reload`'s to measure)
        assert all(w["swapped_at"] >= pushed_at for w in swapped.values()), swapped
        answers = {client.post("/v1/eligibility", json={"lines": []}).json()["rules_version"] for _ in range(20)}
        assert answers == {pushed["version"]}

        # a scheduled push: every worker swaps at its instant, not before
        due = int(time.time()) + 3
        scheduled = client.post(
            "/v1/rules", content=DEMO.encode(), headers=ADMIN, params={"author": "ops", "activate_at": str(due)}
        ).json()
        assert scheduled["activated"] is (scheduled["pushed_at"] >= due)  # at once only if its instant had passed
        seen = workers()
        if before(due):
            assert all(w["version"] == pushed["version"] for w in seen.values()), seen
        swapped = wait_until(lambda: all_serve(scheduled["version"]), message=f"every worker on {scheduled['version']}")
        assert all(w["swapped_at"] >= due for w in swapped.values()), swapped


@pytest.mark.slow
def test_cli_push_status_rollback_against_a_server(redis_client, redis_server, tmp_path, monkeypatch, capsys, serve):
    """`rights rules push/status/rollback` against a real `rights serve` process."""
    from rights.cli import main

    url = serve(env={"REDIS_URL": redis_server.url, "RIGHTS_ADMIN_TOKEN": TOKEN}).url
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", TOKEN)
    assert main(["rules", "status", "--server", url]) == 0
    shown = json.loads(capsys.readouterr().out)
    active = shown["active"]  # each instant also as a reader reads it
    assert active["activated_at_utc"] == dt.datetime.fromtimestamp(active["activated_at"], dt.UTC).isoformat()
    good = tmp_path / "cheaper.yaml"
    good.write_text(CHEAPER_MILK)
    assert main(["rules", "push", str(good), "--server", url, "--author", "ops-li"]) == 0
    assert capsys.readouterr().out.strip().endswith(": active now")
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.replace("price: 1590\n", "price: 15.90\n", 1))
    assert main(["rules", "push", str(bad), "--server", url]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "products[0].price" in err and "nothing changed" in err
    carts = tmp_path / "carts.json"
    carts.write_text('[{"lines": [{"sku": "MILK-1L", "qty": 2}]}]')
    assert main(["rules", "simulate", str(bad), "--carts", str(carts), "--server", url]) == 1
    capsys.readouterr()
    assert main(["rules", "simulate", "--carts", str(carts), "--at", "2026-11-12T10:00", "--server", url]) == 0
    assert "1 cart, 0 changed" in capsys.readouterr().out
    assert main(["rules", "rollback", "--server", url]) == 0
    assert capsys.readouterr().out.startswith("dairy-gala@")
    assert (
        main(["rules", "simulate", str(good), "--carts", str(carts), "--at", "2026-11-12T10:00", "--server", url]) == 0
    )
    assert "1 cart, 1 changed" in (out := capsys.readouterr().out) and "\n  cart 1: payable -200," in out, out
    assert main(["rules", "push", str(good), "--server", url, "--at", str(int(time.time()) + 3600)]) == 0
    scheduled = capsys.readouterr().out.split(":")[0]
    assert main(["rules", "cancel", scheduled, "--server", url]) == 0
    assert capsys.readouterr().out.strip() == f"{scheduled}: cancelled; it will not go live"
    assert main(["rules", "cancel", scheduled, "--server", url]) == 1
    assert "HTTP 404" in capsys.readouterr().err
    monkeypatch.setenv("RIGHTS_ADMIN_TOKEN", "wrong")
    assert main(["rules", "status", "--server", url]) == 1
    assert "HTTP 403" in capsys.readouterr().err


def test_diff_between_versions_in_an_authors_words(redis_client, redis_server, admin_env):
    with client_for(redis_server) as client:
        _, original = milk_price(client)
        pushed = push(client, CHEAPER_MILK).json()["version"]
        answer = client.get("/v1/rules/diff", headers=ADMIN).json()
        assert (answer["from"], answer["to"]) == (original, pushed)
        texts = [c["text"] for c in answer["changes"]]
        assert "product MILK-1L price: 15.90 yuan -> 14.90 yuan" in texts
        assert answer["summary"]["products_changed"] == 1
        back = client.get("/v1/rules/diff", params={"from": pushed, "to": original}, headers=ADMIN).json()
        assert "product MILK-1L price: 14.90 yuan -> 15.90 yuan" in [c["text"] for c in back["changes"]]
        assert client.get("/v1/rules/diff", params={"from": "nope@1"}, headers=ADMIN).status_code == 404


def test_a_diff_with_one_version_only_says_there_is_nothing_earlier(redis_client, redis_server, admin_env):
    with client_for(redis_server) as client:
        alone = client.get("/v1/rules/diff", headers=ADMIN)
        assert (alone.status_code, alone.json()["error"]["field"]) == (404, "from")
        assert "no earlier version" in alone.json()["error"]["reason"] and "None" not in alone.text


def test_simulate_quotes_a_candidate_without_touching_live_traffic(redis_client, redis_server, admin_env):
    with client_for(redis_server) as client:
        before = milk_price(client)
        cart = {"member": {"tier": "gold", "points": 1850}, "room": "gala", "lines": [{"sku": "MILK-1L", "qty": 2}]}
        answer = client.post(
            "/v1/rules/simulate",
            headers=ADMIN,
            json={"rules": CHEAPER_MILK, "at": "2026-11-12T10:00:00+08:00", "carts": [cart]},
        ).json()
        result = answer["results"][0]
        # gold's tier price 13.90 is below both base prices: no change; a visitor sees the base price fall
        assert result["change"]["payable"] == 0
        visitor = client.post(
            "/v1/rules/simulate",
            headers=ADMIN,
            json={
                "rules": CHEAPER_MILK,
                "at": "2026-11-12T10:00:00+08:00",
                "carts": [{"lines": [{"sku": "MILK-1L", "qty": 2}, {"sku": "BUTTER-250", "qty": 1}]}],
            },
        ).json()
        change = visitor["results"][0]["change"]
        assert change["payable"] == -200 and visitor["changed"] == 1
        assert milk_price(client) == before  # live traffic still sees the active table
        bad = client.post("/v1/rules/simulate", headers=ADMIN, json={"rules": "tiers: []\n"})
        assert bad.status_code == 422 and bad.json()["problems"]
        wrong_cart = client.post("/v1/rules/simulate", headers=ADMIN, json={"carts": [{"lines": [{"sku": 1}]}]})
        assert wrong_cart.status_code == 422 and wrong_cart.json()["error"]["field"] == "carts[0].lines[0]"
        for member, field in (({"tier": "nope"}, "carts[1].member.tier"), ({"birthday_month": 13}, "carts[1].member")):
            carts = [cart, {"member": member, "lines": [{"sku": "MILK-1L", "qty": 1}]}]
            refused = client.post("/v1/rules/simulate", headers=ADMIN, json={"carts": carts})
            assert refused.status_code == 422 and refused.json()["error"]["field"].startswith(field), refused.text
        other = client.post("/v1/rules/simulate", headers=ADMIN, json={"carts": [{**cart, "brand": "grain"}]})
        assert (other.status_code, other.json()["error"]["field"]) == (422, "carts[0].brand"), other.text
        for instant in (32_503_680_000, 10**15, "99999-01-01"):
            past = client.post("/v1/rules/simulate", headers=ADMIN, json={"at": instant, "carts": [cart]})
            assert (past.status_code, past.json()["error"]["field"]) == (422, "at"), instant
        assert client.post("/v1/rules/simulate", headers=ADMIN, json={"at": 32_503_679_999}).status_code == 200


def test_a_candidate_larger_than_a_request_body_may_be_simulated(redis_client, redis_server, admin_env):
    """A table is pushed up to RIGHTS_MAX_RULES_BYTES, so it may be tried at that size first."""
    padded = CHEAPER_MILK + "".join(f"# {'x' * 70}\n" for _ in range(1200))  # about 86 KB of comments
    assert len(padded) > 65536
    with client_for(redis_server) as client:
        tried = client.post("/v1/rules/simulate", headers=ADMIN, json={"rules": padded})
        assert tried.status_code == 200, tried.text[:300]
        assert client.post("/v1/eligibility", content=b" " * 70000).status_code == 413  # the request limit stays


def test_simulate_replays_recent_real_requests(redis_client, redis_server, admin_env):
    with client_for(redis_server) as client:
        for qty in (1, 2, 3):
            client.post(
                "/v1/eligibility",
                json={"lines": [{"sku": "MILK-1L", "qty": qty}]},
                headers={"X-Rights-Now": str(at("2026-11-12 10:00"))},
            )
        wait_until(
            lambda: redis_client.xlen("rules:{rules}:sample") >= 3,  # each worker sends its samples each second
            message="the three requests sampled in Redis",
        )
        answer = client.post("/v1/rules/simulate", headers=ADMIN, json={"rules": CHEAPER_MILK, "replay": 3}).json()
        assert answer["carts"] == 3
        assert [r["change"]["payable"] for r in answer["results"]] == [-100, -200, -300]


def test_simulate_finds_and_prices_members_as_checkout_does(redis_client, redis_server, admin_env):
    from api.store import MemberRecord, write_members

    write_members(
        redis_client,
        [MemberRecord(id="G1", tier="gold"), MemberRecord(id="OLD", tier="gold", paid_until=at("2026-11-01 00:00"))],
    )
    cart = {"lines": [{"sku": "MILK-1L", "qty": 1}]}
    with client_for(redis_server) as client:
        answer = client.post(
            "/v1/rules/simulate",
            headers=ADMIN,
            json={
                "at": "2026-11-12T10:00:00+08:00",
                "carts": [{"member_id": "G1", **cart}, {"member_id": "OLD", **cart}],
            },
        )
    gold, lapsed = (r["active"]["payable"] for r in answer.json()["results"])
    assert (gold, lapsed) == (1390, 1590 - 1000)  # the lapsed member pays as a visitor (newcomer coupon)


@pytest.mark.slow
def test_a_worker_killed_under_load_is_replaced_and_serves_the_pushed_version(redis_client, redis_server, serve):
    """SIGKILL one of two worker processes while requests flow: uvicorn starts another,
    which reads the active version from Redis; the other worker answers meanwhile."""
    import os
    import signal
    import threading

    import httpx

    server = serve(workers=2, env={"REDIS_URL": redis_server.url, "RIGHTS_ADMIN_TOKEN": TOKEN})

    def workers(client) -> dict:
        try:
            return client.get("/v1/rules", headers=ADMIN).json()["workers"]
        except (httpx.HTTPError, ValueError, KeyError):
            return {}

    with httpx.Client(base_url=server.url, timeout=5) as client:
        wait_until(lambda: len(workers(client)) >= 2, message="both workers heard from")
        pushed = client.post(
            "/v1/rules", content=CHEAPER_MILK.encode(), params={"author": "ops"}, headers=ADMIN
        ).json()["version"]
        statuses: list = []
        stop = threading.Event()

        def load():
            with httpx.Client(base_url=server.url, timeout=5) as loader:
                while not stop.is_set():
                    try:
                        statuses.append(loader.post("/v1/eligibility", json={"lines": []}).status_code)
                    except httpx.HTTPError:
                        statuses.append(0)

        thread = threading.Thread(target=load)
        thread.start()
        try:
            wait_until(lambda: statuses.count(200) >= 20, message="requests flowing")
            victim = int(next(iter(workers(client))).rsplit(":", 1)[1])
            os.kill(victim, signal.SIGKILL)

            def replaced() -> dict:  # the dead worker's heartbeat ages out; a new pid appears
                others = {w: v for w, v in workers(client).items() if int(w.rsplit(":", 1)[1]) != victim}
                return others if len(others) >= 2 else {}

            others = wait_until(replaced, message=f"a worker in place of {victim}")
        finally:
            stop.set()
            thread.join(10)
        assert len(others) >= 2, others
        assert all(w["version"] == pushed for w in others.values()), others
        answers = {client.post("/v1/eligibility", json={"lines": []}).json()["rules_version"] for _ in range(20)}
        assert answers == {pushed}
        assert statuses.count(200) > 50 and statuses.count(200) / len(statuses) > 0.95, statuses.count(200)


def test_a_worker_never_swaps_back_to_an_earlier_activation(redis_client, redis_server):
    """The watcher reads the active version while a newer one is being swapped in (e.g. a
    schedule falling due): what it read is older than what the worker serves, so it must
    not swap back; a later activation of the same old version is followed."""
    from api.redis.connect import sync_client
    from api.redis.keys import RULES_ACTIVE, RULES_SEQ
    from engine.rules.load import compile_source

    async def scenario(service):
        original = service.table.version
        cheaper = compile_source(CHEAPER_MILK.encode())
        record, seq = await service.rules.store.push(
            cheaper.version, CHEAPER_MILK.encode(), "ops", "cheaper-milk", None, int(time.time())
        )
        assert service.swap(cheaper, seq)
        client = sync_client(redis_server.url)
        client.mset({RULES_ACTIVE: original, RULES_SEQ: seq - 1})  # a read from before the push
        service.rules._follow(client)
        kept = service.table.version
        client.mset({RULES_ACTIVE: original, RULES_SEQ: seq + 1})  # a later activation (a rollback)
        service.rules._follow(client)
        return cheaper.version, kept, original, service.table.version

    cheaper, kept, original, after = in_a_worker(redis_server, scenario)
    assert kept == cheaper and after == original


def test_a_version_cancelled_at_its_instant_is_never_served(redis_client, redis_server):
    from api.redis.keys import RULES_SCHEDULED

    async def scenario(service):
        original = service.table.version
        due = int(time.time()) + 3600
        record, _ = await service.rules.store.push(
            "cheaper-milk@x", CHEAPER_MILK.encode(), "ops", "cheaper-milk", due, int(time.time())
        )
        await service.rules.refresh()  # compiled ahead, a timer set
        assert "cheaper-milk@x" in service.rules.prepared
        await service.redis.zrem(RULES_SCHEDULED, "cheaper-milk@x")  # cancelled, and this worker not told yet
        await service.rules._due("cheaper-milk@x", time.time())  # its timer fires
        return original, service.table.version

    original, served = in_a_worker(redis_server, scenario)
    assert served == original


def test_a_redis_that_lost_its_activation_count_is_followed_after_a_while(redis_client, redis_server, monkeypatch):
    """Redis flushed or restored from an older backup: its count is behind the worker's for
    good, not for an instant, so after REDIS_RESET_AFTER_S the worker takes Redis's table."""
    import asyncio

    from api import rules_sync
    from api.redis.connect import sync_client
    from api.redis.keys import RULES_ACTIVE, RULES_SEQ, rules_source_key
    from engine.rules.load import compile_source

    monkeypatch.setattr(rules_sync, "REDIS_RESET_AFTER_S", 0.3)

    async def scenario(service):
        cheaper = compile_source(CHEAPER_MILK.encode())
        _, seq = await service.rules.store.push(
            cheaper.version, CHEAPER_MILK.encode(), "ops", "cheaper-milk", None, int(time.time())
        )
        service.swap(cheaper, seq)
        client = sync_client(redis_server.url)
        original = compile_source(DEMO.encode()).version
        client.set(rules_source_key(original), DEMO.encode())
        client.mset({RULES_ACTIVE: original, RULES_SEQ: 1})  # what a restored Redis says, from now on
        service.rules._follow(client)
        first = service.table.version
        await asyncio.sleep(0.4)
        # past REDIS_RESET_AFTER_S: this follow, or the worker's own watcher thread, takes Redis's table
        deadline = time.monotonic() + 30
        while service.table.version != original and time.monotonic() < deadline:
            service.rules._follow(client)
            await asyncio.sleep(0.05)
        return cheaper.version, first, original, service.table.version

    cheaper, first, original, after = in_a_worker(redis_server, scenario)
    assert first == cheaper and after == original


def test_a_redis_emptied_under_a_running_server_makes_it_not_ready_until_restored(redis_client, redis_server):
    """An external Redis restarted empty answers and takes writes, yet holds no table (nor
    members): /readyz says 503 and why; once the data is back, ready again."""
    from api.redis.keys import RULES_ACTIVE

    with client_for(redis_server) as client:
        assert client.get("/readyz").status_code == 200
        served = milk_price(client)[1]
        redis_client.delete(RULES_ACTIVE)
        body = wait_until(
            lambda: (answer := client.get("/readyz")).status_code == 503 and answer.json(),
            timeout=10,
            message="/readyz to say 503",
        )
        assert "no active rule table" in body["reason"] and f"serving {served}" in body["reason"], body
        redis_client.set(RULES_ACTIVE, served)  # restored
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=10, message="ready again")


def test_an_active_table_a_worker_cannot_compile_makes_it_not_ready(redis_client, redis_server, admin_env):
    """A table this release refuses (say, written by a newer one) made active in Redis: the
    worker keeps serving what it has, but /readyz says 503 and why, so a balancer sends the
    traffic to replicas that serve the active table; a servable push makes it ready again."""
    from api.redis.keys import RULES_ACTIVE, RULES_CHANNEL, RULES_SEQ, rules_meta_key, rules_source_key

    with client_for(redis_server) as client:
        assert client.get("/readyz").status_code == 200
        served = milk_price(client)[1]
        broken = "from-a-newer-release@0123456789ab"
        redis_client.set(rules_source_key(broken), DEMO.replace("tiers:", "tiers_v2:", 1))
        redis_client.hset(rules_meta_key(broken), mapping={"version": broken, "label": "from-a-newer-release"})
        redis_client.incr(RULES_SEQ)
        redis_client.set(RULES_ACTIVE, broken)
        redis_client.publish(RULES_CHANNEL, broken)

        def not_ready():
            answer = client.get("/readyz")
            return answer.status_code == 503 and answer.json()

        body = wait_until(not_ready, timeout=10, message="/readyz to say 503")
        assert broken in body["reason"] and f"serving {served}" in body["reason"], body
        assert milk_price(client)[1] == served  # still answering, with the table it has

        assert push(client, CHEAPER_MILK).status_code == 201
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=10, message="ready again")
        assert milk_price(client)[1].startswith("cheaper-milk@")
