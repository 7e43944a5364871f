"""schemathesis drives every route from the OpenAPI schema against a running server
(`rights serve --demo`, its own redis-server): no 5xx, and every response conforms to the
schema (status code documented, content type, body, headers). Bounded: a fixed seed and
15 examples an operation in each phase; the admin routes get the admin token."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from serving import ROOT

pytestmark = pytest.mark.slow  # every route, many examples each, against a real server
TOKEN = "fuzz-admin-token"
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
    "response_headers_conformance"
)


def test_no_route_answers_5xx_or_off_its_schema(serve):
    base = serve("--demo", env={"RIGHTS_ADMIN_TOKEN": TOKEN}).url
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{base}/openapi.json",
            "--max-examples",
            "15",
            "--seed",
            "1",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: Bearer {TOKEN}",
        ],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert "passed" in done.stdout
