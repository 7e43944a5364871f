"""The Makefile's promises to a new user: one project .venv, installed once."""

from __future__ import annotations

import subprocess

import pytest
from conftest import ROOT

STAMP = ROOT / ".venv" / ".installed"


def dry_run(target: str) -> str:
    """What `make <target>` would run now, without running it."""
    done = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not STAMP.exists(), reason="the checkout was not installed by make (no .venv/.installed)")
def test_a_second_make_serve_does_not_reinstall():
    """`make test` installed the checkout before running this: `make serve` now goes
    straight to the server, with the project's own python."""
    planned = dry_run("serve")
    assert "pip install" not in planned and "-m venv" not in planned, planned
    assert f"{ROOT}/.venv/bin/rights serve --demo" in planned


def test_every_target_uses_the_project_venv_not_the_python_on_path():
    makefile = (ROOT / "Makefile").read_text()
    recipes = [line.strip() for line in makefile.splitlines() if line.startswith("\t")]
    bare = [r for r in recipes if r.startswith(("python", "pip", "rights ", "pytest"))]
    assert bare == []
    assert "$(PYTHON) -m venv $(VENV)" in makefile  # the python found makes the venv, and only that
