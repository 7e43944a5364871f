"""The gala night, headless: `locust -f loadtest/gala.py --headless --host URL ...`.

Stages, as fractions of `GalaNight.total_seconds` (RIGHTS_GALA_SECONDS, default 60):
a ramp to the pre-show crowd, a tenfold spike when the room opens, the live hours, the
flash burst of the last five minutes (flash redeemers join), and the decay after.
"""

from __future__ import annotations

from locust import LoadTestShape

from loadtest import objectives  # noqa: F401  (registers the objective flags and check)
from loadtest.population import Buyer, FlashRedeemer, RuleAuthor, Shopper, Viewer, env_number  # noqa: F401

BASE_USERS = int(env_number("RIGHTS_GALA_USERS", 20, 1, 10_000))  # the pre-show crowd; the spike is 10x


class GalaNight(LoadTestShape):
    total_seconds = env_number("RIGHTS_GALA_SECONDS", 60.0, 1, 86_400, whole=False)
    crowd = [Shopper, Viewer, Buyer, RuleAuthor]
    # (end as a fraction of the run, users as a multiple of BASE_USERS, who)
    stages = [
        (0.10, 1, crowd),
        (0.25, 10, crowd),
        (0.70, 4, crowd),
        (0.85, 6, crowd + [FlashRedeemer]),
        (1.00, 1, crowd),
    ]

    def tick(self):
        elapsed = self.get_run_time()
        for end, multiple, who in self.stages:
            if elapsed < end * self.total_seconds:
                users = max(1, BASE_USERS * multiple)
                return users, max(1.0, users / 2.0), who
        return None
