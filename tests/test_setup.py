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


def test_reset_deletes_only_a_data_directory(tmp_path, monkeypatch, capsys):
    """`make reset` with a mistyped --data-dir must not delete a folder of the user's."""
    from rights.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    assert main(["reset", "--data-dir", "notes"]) == 1
    assert "not a data directory" in capsys.readouterr().err
    (tmp_path / "rights.lock").touch()  # even a folder with a lock file, when it is where we stand
    assert main(["reset", "--data-dir", "."]) == 1
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "rights.lock").touch()
    (tmp_path / "var" / "appendonlydir").mkdir()
    assert main(["reset"]) == 0 and not (tmp_path / "var").exists()


def test_reset_never_deletes_another_data_directory_inside_the_one_named(tmp_path, monkeypatch, capsys):
    """A running server's data below an old, stopped one: resetting the outer one would pull
    the server's files (and its lock) from under it."""
    from rights.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "old" / "sub").mkdir(parents=True)
    (tmp_path / "old" / "rights.lock").touch()
    (tmp_path / "old" / "sub" / "rights.lock").touch()
    assert main(["reset", "--data-dir", "old"]) == 1
    assert "holds another data directory" in capsys.readouterr().err
    assert (tmp_path / "old" / "sub" / "rights.lock").exists()
