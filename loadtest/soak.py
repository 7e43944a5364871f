"""A steady soak: `locust -f loadtest/soak.py --headless --host URL ...`.

RIGHTS_SOAK_USERS (default 40) users of the live-room population, constant for
RIGHTS_SOAK_SECONDS (default 600): memory, connection and latency drift show here.
"""

from __future__ import annotations

import os

from locust import LoadTestShape

from loadtest import objectives  # noqa: F401
from loadtest.population import Buyer, RuleAuthor, Shopper, Viewer  # noqa: F401


class Soak(LoadTestShape):
    total_seconds = float(os.environ.get("RIGHTS_SOAK_SECONDS", "600"))
    users = int(os.environ.get("RIGHTS_SOAK_USERS", "40"))

    def tick(self):
        if self.get_run_time() >= self.total_seconds:
            return None
        return self.users, max(1.0, self.users / 10.0), [Shopper, Viewer, Buyer, RuleAuthor]
