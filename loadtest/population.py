"""Who is in a live room on a gala night, as locust users.

- Shopper: changes a cart every second or two (POST /v1/eligibility); most of the load.
- Viewer: sends watch and share events (POST /v1/events).
- Buyer: quotes a cart, then settles it (POST /v1/orders) with the quote's rules version;
  after a push it quotes again and settles under the new version.
- FlashRedeemer: redeems the flash eggs, each with a fresh Idempotency-Key (POST
  /v1/redemptions); only the flash burst stage runs it.
- RuleAuthor: pushes a price change once, mid-run (POST /v1/rules), only when asked to
  (RIGHTS_LOAD_PUSH=1, with RIGHTS_ADMIN_TOKEN the server knows); otherwise it only waits.
  When the run stops it rolls back to the table that was active before its push, unless
  someone pushed another table since: a rehearsal never leaves its table in service.

Members are the demo members (M00001..M10000), the room, skus and flash item the demo
table's; for another deployment set RIGHTS_LOAD_MEMBERS, RIGHTS_LOAD_ROOM (with
RIGHTS_LOAD_ROOM_START / _END, Unix seconds), RIGHTS_LOAD_SKUS (comma separated) and
RIGHTS_LOAD_FLASH_ITEM. Against a `--demo` server every request
carries `X-Rights-Now` on the gala night's clock: the run's length is mapped onto the
room's three hours (20:00 to 23:00, +08:00), so the opening is at the start of the run;
flash redemptions are sent at 22:58, inside their last-five-minutes window. Business
refusals (a sold-out item, a limit reached, a table that changed under a buyer) count as
answers, not failures; a failure is a 5xx, a timeout, or a refusal the scenario does not
expect.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid

from locust import between, constant, events, task
from locust.contrib.fasthttp import FastHttpUser


def env_number(name: str, default: float, low: float, high: float, whole: bool = True) -> float:
    """A number from the environment, from `low` to `high`; anything else stops locust in
    one line naming the variable (not a traceback from the import)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:  # nan is not in any range
        kind = "a whole number" if whole else "a number"
        raise SystemExit(f"loadtest: {name}={text!r}: must be {kind} from {low:g} to {high:g}")
    return value


GALA_START = int(env_number("RIGHTS_LOAD_ROOM_START", 1794398400, 0, 32503679999))  # 2026-11-11T20:00:00+08:00
GALA_END = int(env_number("RIGHTS_LOAD_ROOM_END", GALA_START + 3 * 3600, GALA_START + 1, 32503679999))
FLASH_AT = GALA_END - 120
ROOM = os.environ.get("RIGHTS_LOAD_ROOM", "gala")
SKUS = os.environ.get(
    "RIGHTS_LOAD_SKUS", "MILK-1L,YOGURT-6,POWDER-900,BUTTER-250,CHEESE-KIDS,A2-MILK-12,CHEESE-LTD"
).split(",")
FLASH_ITEM = os.environ.get("RIGHTS_LOAD_FLASH_ITEM", "FLASH-EGGS")
MEMBERS = int(env_number("RIGHTS_LOAD_MEMBERS", 10000, 1, 99999))  # ids M00001 .. M<MEMBERS>
EXPECTED_REFUSALS = {
    "out_of_stock",
    "member_limit_reached",
    "insufficient_points",
    "outside_window",
    "tier_too_low",
    "tier_not_eligible",
    "segment_not_eligible",
    "task_locked",
    "line_not_eligible",
    "quote_changed",
    "rules_changed",
    "in_progress",
    "member_frozen",
}

_started: dict[str, float | None] = {"at": None}  # when the run started, by the monotonic clock


@events.test_start.add_listener
def _mark_start(environment, **kwargs) -> None:
    _started["at"] = time.monotonic()


def run_seconds(environment) -> float:
    """The run's planned length: the shape's, else --run-time, else an hour."""
    shape = environment.shape_class
    if shape is not None and getattr(shape, "total_seconds", None):
        return float(shape.total_seconds)
    return float(getattr(environment.parsed_options, "run_time", None) or 3600)


def gala_now(environment) -> int:
    """The gala clock: the run mapped onto the room's three hours."""
    elapsed = time.monotonic() - (_started["at"] or time.monotonic())
    fraction = min(1.0, elapsed / max(1.0, run_seconds(environment)))
    return int(GALA_START + fraction * (GALA_END - GALA_START - 300))  # the last 5 minutes belong to the flash


def member_id() -> str:
    return f"M{random.randint(1, MEMBERS):05d}"


def cart() -> list:
    return [{"sku": sku, "qty": random.randint(1, 3)} for sku in random.sample(SKUS, random.randint(1, 5))]


class _GalaUser(FastHttpUser):
    abstract = True

    def headers(self, at: int | None = None) -> dict:
        return {"X-Rights-Now": str(at or gala_now(self.environment)), "Content-Type": "application/json"}

    def post(self, path: str, body: dict, name: str, headers: dict | None = None):
        """POST and classify: 2xx, or an expected business refusal, is a success."""
        with self.client.post(
            path, json=body, headers=headers or self.headers(), name=name, catch_response=True
        ) as response:
            if 200 <= response.status_code < 300:
                response.success()
                return response
            try:
                code = response.json()["error"]["code"]
            except Exception:
                code = None
            if response.status_code in (403, 409) and code in EXPECTED_REFUSALS:
                response.success()
            else:
                response.failure(f"{response.status_code} {code or response.text[:80]}")
            return response


class Shopper(_GalaUser):
    weight = 20
    wait_time = between(0.5, 2.0)

    @task
    def change_cart(self) -> None:
        body = {
            "member_id": member_id(),
            "room": ROOM,
            "lines": cart(),
            "fulfillment": random.choice(("delivery", "pickup")),
        }
        self.post("/v1/eligibility", body, "eligibility")


class Viewer(_GalaUser):
    weight = 6
    wait_time = between(2.0, 6.0)

    @task(3)
    def watch(self) -> None:
        live_for = gala_now(self.environment) - GALA_START
        if live_for >= 600:
            self.post(
                "/v1/events",
                {
                    "event_id": uuid.uuid4().hex[:24],
                    "member_id": member_id(),
                    "type": "watch",
                    "room": ROOM,
                    "seconds": random.randint(600, min(live_for, 3600)),
                },
                "event watch",
            )

    @task(1)
    def share(self) -> None:
        self.post(
            "/v1/events",
            {"event_id": uuid.uuid4().hex[:24], "member_id": member_id(), "type": "share", "room": ROOM},
            "event share",
        )


class Buyer(_GalaUser):
    weight = 3
    wait_time = between(2.0, 5.0)

    @task
    def buy(self) -> None:
        member, lines = member_id(), cart()
        quote = self.post(
            "/v1/eligibility",
            {"member_id": member, "room": ROOM, "lines": lines, "fulfillment": "pickup"},
            "eligibility (before an order)",
        )
        if quote.status_code != 200:
            return
        body = quote.json()
        eligible = [line for line, shown in zip(lines, body["lines"]) if shown["eligible"]]
        if not eligible:
            return
        self.post(
            "/v1/orders",
            {
                "order_id": uuid.uuid4().hex[:24],
                "member_id": member,
                "room": ROOM,
                "lines": eligible,
                "fulfillment": "pickup",
                "rules_version": body["rules_version"],
                "location": {"lat": 31.23 + random.random() / 20, "lon": 121.47 + random.random() / 20},
            },
            "order",
        )


class FlashRedeemer(_GalaUser):
    """Runs only in the flash burst (the shape names it then), as a third of the crowd."""

    weight = 15
    wait_time = constant(0.2)

    @task
    def redeem(self) -> None:
        headers = {**self.headers(FLASH_AT), "Idempotency-Key": uuid.uuid4().hex}
        self.post(
            "/v1/redemptions",
            {"member_id": member_id(), "redemption_id": FLASH_ITEM, "room": ROOM},
            "flash redemption",
            headers=headers,
        )


class RuleAuthor(_GalaUser):
    """One push of a cheaper milk, half way through the run, taken back when the run stops."""

    fixed_count = 1
    wait_time = constant(1.0)
    pushed = False
    versions: dict[str, str] = {}  # "before" and "pushed", for the rollback at the end

    @task
    def push_once(self) -> None:
        token = os.environ.get("RIGHTS_ADMIN_TOKEN")
        wanted = os.environ.get("RIGHTS_LOAD_PUSH", "0").strip().lower() in ("1", "true", "yes", "on")
        elapsed = time.monotonic() - (_started["at"] or time.monotonic())
        if RuleAuthor.pushed or not (token and wanted) or elapsed < run_seconds(self.environment) / 2:
            return
        RuleAuthor.pushed = True
        from engine.demo import DEMO_RULES

        auth = {"Authorization": f"Bearer {token}"}
        with self.client.get("/v1/rules", headers=auth, name="rules status", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {response.text[:80]}")
                return
            RuleAuthor.versions["before"] = response.json()["active"]["version"]
        table = DEMO_RULES.read_text(encoding="utf-8").replace("price: 1590\n", "price: 1490\n", 1)
        with self.client.post(
            "/v1/rules?author=locust&label=gala-mid-run",
            data=table,
            headers={**auth, "Content-Type": "application/yaml"},
            name="rules push",
            catch_response=True,
        ) as response:
            if not 200 <= response.status_code < 300:
                response.failure(f"{response.status_code} {response.text[:80]}")
                return
            RuleAuthor.versions["pushed"] = response.json()["version"]


@events.test_stop.add_listener
def _take_the_push_back(environment, **kwargs) -> None:
    """Roll back to the table active before the run's push, if the push is still active."""
    before, pushed = RuleAuthor.versions.get("before"), RuleAuthor.versions.get("pushed")
    if not (before and pushed and environment.host):
        return
    import requests

    auth = {"Authorization": f"Bearer {os.environ.get('RIGHTS_ADMIN_TOKEN', '')}"}
    try:
        active = requests.get(f"{environment.host}/v1/rules", headers=auth, timeout=10).json()["active"]["version"]
        if active == pushed:
            requests.post(f"{environment.host}/v1/rules/rollback", json={"to": before}, headers=auth, timeout=10)
            print(f"load test: rolled back to {before} (the table before its push)", file=sys.stderr)
        else:
            print(f"load test: {active} is active (pushed since the run's push): left as it is", file=sys.stderr)
    except (requests.RequestException, KeyError, ValueError) as exc:
        print(
            f"load test: could not take its push back ({exc}); `rights rules rollback --to {before}`", file=sys.stderr
        )
    RuleAuthor.versions.clear()
    RuleAuthor.pushed = False
