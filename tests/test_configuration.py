"""docs/CONFIGURATION.md names every variable the product reads from its environment."""

import re

from conftest import ROOT

READ = re.compile(r"[\"'](REDIS_URL|RIGHTS_[A-Z0-9_]+)[\"']")


def variables_read() -> set[str]:
    names: set[str] = set()
    for folder in ("api", "engine", "ext", "rights", "bench", "loadtest"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(READ.findall(path.read_text(encoding="utf-8")))
    names |= set(READ.findall((ROOT / "setup.py").read_text(encoding="utf-8")))
    return names


def test_every_variable_read_is_documented():
    documented = set(re.findall(r"`(REDIS_URL|RIGHTS_[A-Z0-9_]+)", (ROOT / "docs" / "CONFIGURATION.md").read_text()))
    assert len(variables_read()) > 30
    assert variables_read() - documented == set()


def test_every_setting_of_the_server_is_in_its_table():
    """The server's own table (the docstring of api/settings.py) and this page agree."""
    table = (ROOT / "docs" / "CONFIGURATION.md").read_text().split("## Other commands")[0]
    in_code = re.findall(r"\| (RIGHTS_[A-Z_]+|REDIS_URL)", (ROOT / "api" / "settings.py").read_text())
    assert len(in_code) > 20
    assert [name for name in in_code if f"`{name}`" not in table] == []
