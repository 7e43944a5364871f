"""The gala-night locust scenario, headless and short, against `rights serve --demo`:
it exits 0 when its objectives are met and non-zero, with a one-line reason, when they
are set impossibly tight; it writes its CSV and HTML reports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from serving import ROOT, Server, http

from engine.demo import DEMO_RULES
from engine.rules.load import load_file

pytestmark = pytest.mark.slow  # locust runs against a real server
TOKEN = "loadtest-token"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("gala"), "--demo", env={"RIGHTS_ADMIN_TOKEN": TOKEN}) as served:
        yield served.ready().url


def gala(base: str, tmp_path, *flags: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "RIGHTS_GALA_SECONDS": "8", "RIGHTS_GALA_USERS": "4", "RIGHTS_ADMIN_TOKEN": TOKEN}
    env.update(env_extra or {})
    env["RIGHTS_LOAD_PUSH"] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            "loadtest/gala.py",
            "--headless",
            "--host",
            base,
            "--only-summary",
            "--csv",
            str(tmp_path / "gala"),
            "--html",
            str(tmp_path / "gala.html"),
            *flags,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_gala_night_meets_its_objectives(demo, tmp_path):
    done = gala(demo, tmp_path, "--objective-p99-ms", "60000", "--objective-failure-ratio", "0.05")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "objectives met:" in done.stderr
    stats = (tmp_path / "gala_stats.csv").read_text()
    for name in ("eligibility", "order", "event watch", "flash redemption", "rules push"):
        assert f",{name}," in stats, name
    assert (tmp_path / "gala.html").stat().st_size > 0
    # the mid-run push is taken back when the run stops: the table served before is served again
    status, rules = http(demo + "/v1/rules", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and rules["active"]["version"] == load_file(DEMO_RULES).version, rules["active"]
    assert "rolled back to" in done.stderr


def test_an_impossible_objective_fails_the_run_with_its_reason(demo, tmp_path):
    done = gala(demo, tmp_path, "--objective-p99-ms", "0.001")
    assert done.returncode == 3
    assert "objective missed: p99" in done.stderr


@pytest.mark.parametrize(
    ("flags", "env", "said"),
    [
        (("--objectives", "/nonexistent/objectives.json"), {}, "--objectives /nonexistent/objectives.json"),
        (("--objectives", "{file}"), {}, "unknown objective 'p99ms'"),
        (("--objective-p99-ms", "nan"), {}, "objective p99_ms nan"),
        ((), {"RIGHTS_GALA_USERS": "abc"}, "RIGHTS_GALA_USERS='abc'"),
    ],
    ids=["missing-file", "misspelt-key", "nan", "users"],
)
def test_a_wrong_objective_or_setting_stops_the_run_before_any_load_in_one_line(demo, tmp_path, flags, env, said):
    misspelt = tmp_path / "objectives.json"
    misspelt.write_text('{"p99ms": 1}')
    flags = tuple(str(misspelt) if flag == "{file}" else flag for flag in flags)
    done = gala(demo, tmp_path, *flags, env_extra=env)
    assert done.returncode not in (0, 3), done.stderr[-2000:]
    assert said in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "objectives met" not in done.stderr and "objective missed" not in done.stderr  # no run was judged
