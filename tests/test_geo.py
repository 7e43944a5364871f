"""The nearest-leader index agrees with looking at every leader."""

import random

import pytest

from engine.geo import Leader, LeaderIndex


def _brute(leaders, lat, lon, cos0):
    active = [one for one in leaders if one.active]
    return min(active, key=lambda one: (((one.lon - lon) * cos0) ** 2 + (one.lat - lat) ** 2, one.id)).id


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_index_finds_what_a_full_scan_finds(seed):
    rng = random.Random(seed)
    leaders = [
        Leader(f"L{k:03d}", "", 31.1 + rng.random() * 0.2, 121.3 + rng.random() * 0.3, rng.random() > 0.2)
        for k in range(rng.choice((1, 5, 300)))
    ]
    leaders.append(Leader("ALWAYS", "", 31.2, 121.4))
    index = LeaderIndex(leaders, cell_km=rng.choice((0.5, 2.0, 5.0)))
    points = [(31.0 + rng.random() * 0.4, 121.2 + rng.random() * 0.5) for _ in range(300)]
    points += [(39.9, 116.4), (31.2, 121.4)]  # far away, and exactly on a leader
    found = index.nearest_many([p[0] for p in points], [p[1] for p in points])
    for (lat, lon), (leader_id, _) in zip(points, found):
        assert leader_id == _brute(leaders, lat, lon, index.cos0)
    assert index.nearest(*points[0])[0] == found[0][0]


def test_ties_go_to_the_id_that_sorts_first_and_inactive_leaders_never_serve():
    leaders = [Leader("B", "", 31.2, 121.4), Leader("A", "", 31.2, 121.4), Leader("C", "", 31.2001, 121.4, False)]
    assert LeaderIndex(leaders).nearest(31.2001, 121.4)[0] == "A"
    assert LeaderIndex([Leader("X", "", 31.2, 121.4, False)]).nearest(31.2, 121.4) is None
