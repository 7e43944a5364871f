"""Points that expire by the calendar (`points.expire_after_months`) through HTTP, against
a real redis-server: an order's points lapse at the end of the day the months after, the
points about to lapse are listed by day, month ends are kept, and a refund before or
after the lapse takes back no more than the rules say."""

from __future__ import annotations

import orjson
import pytest
import yaml
from conftest import at, client_for, place_order

from api.store import MemberRecord, write_members
from engine.demo import DEMO_RULES
from engine.instants import CST_SECONDS, months_later_day_end

GALA_21 = at("2026-11-11 21:00")  # the gala room is live 20:00-23:00
LAPSE = at("2026-12-12 00:00")  # one month after the gala day: the end of 11 December
MILK = [{"sku": "MILK-1L", "qty": 2}, {"sku": "YOGURT-6", "qty": 1}]


@pytest.fixture
def start(redis_client, redis_server, tmp_path):
    """An app on the demo table with `points.expire_after_months` (and any other points field)."""
    write_members(
        redis_client,
        [MemberRecord(id="G1", tier="gold", points=1850), MemberRecord(id="NEW", tier="gold", points=0)],
    )

    def started(months: int = 1, **points):
        data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
        data["points"].update(expire_after_months=months, **points)
        path = tmp_path / "months.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return client_for(redis_server, redis_timeout_ms=500, rules=str(path), data_dir=str(tmp_path))

    return started


def order(api, order_id, member_id, lines=MILK, now=GALA_21, **extra):
    settled = place_order(api, order_id, member_id, lines, now=now, fulfillment="pickup", **extra)
    assert settled.status_code == 200, settled.text
    return settled.json()


def ledger(api, member_id, now):
    return api.get(f"/v1/members/{member_id}/ledger", headers={"X-Rights-Now": str(now)}).json()


def expiring(api, member_id, now, **params):
    return api.get(f"/v1/members/{member_id}/expiring", params=params, headers={"X-Rights-Now": str(now)})


def quoted_points(api, member_id, now):
    body = {"member_id": member_id, "lines": [{"sku": "MILK-1L", "qty": 1}]}
    response = api.post("/v1/eligibility", content=orjson.dumps(body), headers={"X-Rights-Now": str(now)})
    return response.json()["member"]["points"]


def refund(api, order_id, member_id, now):
    answer = api.post(
        f"/v1/orders/{order_id}/refund", json={"member_id": member_id}, headers={"X-Rights-Now": str(now)}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def redeem(api, member_id, item, key, now):
    answer = api.post(
        "/v1/redemptions",
        json={"member_id": member_id, "redemption_id": item},
        headers={"Idempotency-Key": key, "X-Rights-Now": str(now)},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_end_of_the_day_months_later_keeps_month_ends():
    def local(text: str) -> int:
        return at(text)

    cases = [
        ("2027-01-31 10:00", 1, "2027-03-01 00:00"),  # 31 January + 1 month: the end of 28 February
        ("2028-01-31 23:59", 1, "2028-03-01 00:00"),  # a leap year: the end of 29 February
        ("2026-12-31 00:00", 2, "2027-03-01 00:00"),
        ("2026-12-15 08:00", 1, "2027-01-16 00:00"),  # over the year's end
        ("2026-11-11 21:00", 24, "2028-11-12 00:00"),
        ("2027-03-31 12:00", 120, "2037-04-01 00:00"),
    ]
    for earned, months, lapses in cases:
        assert months_later_day_end(local(earned), months, CST_SECONDS) == local(lapses), (earned, months)
    # the day is the table's: 20:00 UTC on 31 January is already 1 February in China
    assert months_later_day_end(at("2027-02-01 04:00"), 1, CST_SECONDS) == at("2027-03-02 00:00")
    assert months_later_day_end(at("2027-02-01 04:00"), 1, 0) == at("2027-03-01 08:00")


def test_an_orders_points_lapse_at_the_end_of_the_day_the_months_after(start):
    with start(months=1) as api:
        points = order(api, "O1", "G1")["points"]
        assert points > 0
        credit = ledger(api, "G1", GALA_21)["entries"][0]
        assert (credit["reason"], credit["delta"], credit["expires"]) == ("order", points, LAPSE)
        assert quoted_points(api, "G1", LAPSE - 1) == 1850 + points
        assert ledger(api, "G1", LAPSE - 1)["balance"] == 1850 + points
        # the first touch after the lapse (here a quote) drops them, with an `expired` entry
        assert quoted_points(api, "G1", LAPSE) == 1850
        page = ledger(api, "G1", LAPSE + 3600)
        assert page["balance"] == 1850
        lapsed = page["entries"][0]
        assert (lapsed["reason"], lapsed["delta"], lapsed["at"], lapsed["balance"]) == ("expired", -points, LAPSE, 1850)
        assert sum(e["delta"] for e in page["entries"]) == 1850


def test_the_points_about_to_lapse_are_listed_by_day_within_the_window(start):
    with start(months=1) as api:
        points = order(api, "O1", "G1")["points"]
        watched = api.post(
            "/v1/events",
            json={"event_id": "w1", "member_id": "G1", "type": "watch", "room": "gala", "seconds": 900},
            headers={"X-Rights-Now": str(GALA_21)},
        ).json()
        assert watched["expires"] == LAPSE  # event points follow the months too
        day = {"date": "2026-12-11", "at": LAPSE, "points": points + watched["points"]}
        # 30 days from 21:00 on the gala day end at 21:00 on 11 December: before the lapse
        nothing = expiring(api, "G1", GALA_21)
        assert nothing.status_code == 200
        assert nothing.json() == {"member_id": "G1", "within_days": 30, "total": 0, "by_day": []}
        assert expiring(api, "G1", GALA_21, within_days=31).json() == {
            "member_id": "G1",
            "within_days": 31,
            "total": day["points"],
            "by_day": [day],
        }
        assert expiring(api, "G1", at("2026-11-12 00:00")).json()["by_day"] == [day]  # exactly 30 days ahead
        assert expiring(api, "G1", LAPSE - 1, within_days=1).json()["by_day"] == [day]
        # at the lapse they are lapsed first, as the ledger does, so none is left to list
        gone = expiring(api, "G1", LAPSE, within_days=366).json()
        assert (gone["total"], gone["by_day"]) == (0, [])
        assert [e["reason"] for e in ledger(api, "G1", LAPSE)["entries"][:2]] == ["expired", "expired"]


def test_points_lapsing_on_different_days_are_listed_apart(start):
    with start(months=1) as api:
        first = order(api, "O1", "G1")["points"]
        second = order(api, "O2", "G1", now=at("2026-11-13 09:00"), room=None)["points"]
        assert expiring(api, "G1", at("2026-11-20 00:00")).json()["by_day"] == [
            {"date": "2026-12-11", "at": LAPSE, "points": first},
            {"date": "2026-12-13", "at": at("2026-12-14 00:00"), "points": second},
        ]


def test_an_order_on_the_last_day_of_january_lapses_at_the_end_of_february(start):
    with start(months=1) as api:
        settled = order(api, "O1", "NEW", now=at("2027-01-31 10:00"), room=None)
        end_of_february = at("2027-03-01 00:00")
        assert ledger(api, "NEW", at("2027-01-31 10:00"))["entries"][0]["expires"] == end_of_february
        assert expiring(api, "NEW", at("2027-02-27 12:00"), within_days=2).json()["by_day"] == [
            {"date": "2027-02-28", "at": end_of_february, "points": settled["points"]}
        ]
        assert ledger(api, "NEW", end_of_february - 1)["balance"] == settled["points"]
        assert ledger(api, "NEW", end_of_february)["balance"] == 0


def test_a_refund_before_the_lapse_takes_back_the_orders_own_lot(start):
    with start(months=1) as api:
        points = order(api, "O1", "G1")["points"]
        refunded = refund(api, "O1", "G1", GALA_21 + 3600)
        assert (refunded["points_reversed"], refunded["points_not_recovered"], refunded["points_lapsed"]) == (
            points,
            0,
            0,
        )
        assert refunded["balance"] == 1850
        # the order's lot went, not the older points that never lapse
        assert expiring(api, "G1", GALA_21 + 3600, within_days=366).json()["by_day"] == []
        assert ledger(api, "G1", LAPSE + 1)["balance"] == 1850


def test_a_refund_after_the_lapse_neither_takes_nor_owes_the_lapsed_points(start):
    with start(months=1) as api:
        points = order(api, "O1", "NEW")["points"]
        refunded = refund(api, "O1", "NEW", LAPSE + 3600)
        assert refunded["points_lapsed"] == points
        assert (refunded["points_reversed"], refunded["points_not_recovered"]) == (0, 0)
        assert (refunded["points_owed"], refunded["points_debt"], refunded["balance"]) == (0, 0, 0)
        page = ledger(api, "NEW", LAPSE + 3600)
        assert [e["reason"] for e in page["entries"]] == ["expired", "order"]
        assert page["points_debt"] == 0
        assert refund(api, "O1", "NEW", LAPSE + 7200) == refunded  # once


def test_a_refund_after_the_lapse_owes_only_the_points_spent(start):
    with start(months=1) as api:
        points = order(api, "O1", "NEW", lines=[{"sku": "POWDER-900", "qty": 1}])["points"]
        assert points > 1000
        assert redeem(api, "NEW", "OLIVE-OIL", "r1", GALA_21)["balance"] == points - 1000
        refunded = refund(api, "O1", "NEW", LAPSE)
        assert refunded["points_lapsed"] == points - 1000
        assert (refunded["points_reversed"], refunded["points_not_recovered"], refunded["points_owed"]) == (
            0,
            1000,
            1000,
        )
        assert (refunded["points_debt"], refunded["balance"]) == (1000, 0)
        # the debt is paid by the next points, as for any refund of points spent
        later = order(api, "O2", "NEW", now=LAPSE + 60, room=None)
        assert later["balance"] == max(0, later["points"] - 1000)


def test_a_refund_after_the_lapse_under_forgive_lets_the_spent_points_go(start):
    with start(months=1, refund="forgive") as api:
        points = order(api, "O1", "NEW", lines=[{"sku": "POWDER-900", "qty": 1}])["points"]
        redeem(api, "NEW", "OLIVE-OIL", "r1", GALA_21)
        refunded = refund(api, "O1", "NEW", LAPSE)
        assert (refunded["points_lapsed"], refunded["points_not_recovered"], refunded["points_owed"]) == (
            points - 1000,
            1000,
            0,
        )
        assert (refunded["points_debt"], refunded["balance"]) == (0, 0)


def test_the_expiring_route_refuses_what_it_cannot_answer(start):
    with start(months=1) as api:
        assert expiring(api, "NOBODY", GALA_21).status_code == 404
        assert expiring(api, "NOBODY", GALA_21).json()["error"]["code"] == "unknown_member"
        for days in (0, 367, "x"):
            assert expiring(api, "G1", GALA_21, within_days=days).status_code == 422
        assert expiring(api, "G1", GALA_21, within_days=366).status_code == 200


def quoted_member(api, member_id, now):
    body = {"member_id": member_id, "lines": [{"sku": "MILK-1L", "qty": 1}]}
    response = api.post("/v1/eligibility", content=orjson.dumps(body), headers={"X-Rights-Now": str(now)})
    assert response.status_code == 200, response.text
    return response.json()["member"]


def test_a_quote_shows_the_points_lapsing_within_30_days(start, redis_client):
    with start(months=1) as api:
        points = order(api, "O1", "G1")["points"]
        assert "points_expiring" not in quoted_member(api, "G1", GALA_21)  # 30 days and 3 hours ahead
        soon = {"points": points, "at": LAPSE, "date": "2026-12-11"}
        assert quoted_member(api, "G1", at("2026-11-12 00:00")) == {
            "id": "G1",
            "status": "member",
            "tier": "gold",
            "member_tier": "gold",
            "points": 1850 + points,
            "frozen": False,
            "paid_until": None,
            "points_expiring": soon,
        }
        # spending takes the older points that never lapse first: the order's are still due
        redeem(api, "G1", "OLIVE-OIL", "r1", at("2026-11-20 10:00"))
        assert quoted_member(api, "G1", at("2026-11-20 10:00"))["points_expiring"] == soon
        # a members import leaves the ledger's fields as they are
        write_members(redis_client, [MemberRecord(id="G1", tier="gold", points=850 + points)])
        assert quoted_member(api, "G1", at("2026-11-20 10:00"))["points_expiring"] == soon
        assert "points_expiring" not in quoted_member(api, "G1", LAPSE)  # lapsed, and none after


def test_a_quote_shows_what_is_left_of_the_points_lapsing_first(start):
    with start(months=1) as api:
        first = order(api, "O1", "NEW")["points"]
        second = order(api, "O2", "NEW", now=at("2026-11-13 09:00"), room=None)["points"]
        assert quoted_member(api, "NEW", at("2026-11-20 00:00"))["points_expiring"] == {
            "points": first,
            "at": LAPSE,
            "date": "2026-12-11",
        }
        refund(api, "O1", "NEW", at("2026-11-20 00:00"))  # the order's own lot goes
        assert quoted_member(api, "NEW", at("2026-11-20 00:00"))["points_expiring"] == {
            "points": second,
            "at": at("2026-12-14 00:00"),
            "date": "2026-12-13",
        }


def test_a_lapsed_orders_lot_is_kept_for_its_refund_then_dropped(start, redis_client):
    with start(months=1) as api:
        order(api, "O1", "NEW")
        order(api, "O2", "NEW")
        assert ledger(api, "NEW", LAPSE)["balance"] == 0
        lots = {k: v for k, v in redis_client.hgetall("lots:{NEW}").items() if k != b"#"}
        assert sorted(v.split()[0] for v in lots.values()) == [b"0", b"0"]  # outside the balance
        refund(api, "O1", "NEW", LAPSE)
        assert len([k for k in redis_client.hgetall("lots:{NEW}") if k != b"#"]) == 1  # refunded: gone
        # the other is dropped once no order record could still ask for it
        assert ledger(api, "NEW", LAPSE + 400 * 86400 - 1)["balance"] == 0
        assert len([k for k in redis_client.hgetall("lots:{NEW}") if k != b"#"]) == 1
        order(api, "O3", "NEW", now=LAPSE + 400 * 86400, room=None)
        assert [v.split()[2:] for k, v in redis_client.hgetall("lots:{NEW}").items() if k != b"#"] == [[b"o"]]
