"""docs/CONFIGURATION.md names every variable the product reads from its environment, and its
server table is the one api/settings.py renders from its fields."""

import argparse
import itertools
import re

import pytest
from conftest import ROOT

from api.settings import Settings, settings_table, variable

READ = re.compile(r"[\"'](REDIS_URL|RIGHTS_[A-Z0-9_]+)[\"']")
PAGE = ROOT / "docs" / "CONFIGURATION.md"


def variables_read() -> set[str]:
    """The server's settings (the model names them, unquoted) and every other variable the
    code reads by a quoted name, in any module."""
    names = {variable(name) for name in Settings.model_fields}
    for folder in ("api", "engine", "ext", "rights", "bench", "loadtest"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(READ.findall(path.read_text(encoding="utf-8")))
    names |= set(READ.findall((ROOT / "setup.py").read_text(encoding="utf-8")))
    return names


def test_every_variable_read_is_documented():
    documented = set(re.findall(r"`(REDIS_URL|RIGHTS_[A-Z0-9_]+)", PAGE.read_text()))
    read = variables_read()
    assert len(read) > 30
    # the settings come from the model, the rest from the code that reads them
    assert {"RIGHTS_WORKERS", "REDIS_URL", "RIGHTS_MEMBER_CACHE"} <= read
    assert {"RIGHTS_ADMIN_TOKEN", "RIGHTS_PICKUP_SECRET", "RIGHTS_EVALUATOR", "RIGHTS_GALA_USERS"} <= read
    assert read - documented == set()


def test_the_server_table_is_rendered_from_the_settings():
    lines = PAGE.read_text().splitlines()
    rendered = settings_table()
    header = rendered.splitlines()[0]
    assert header in lines, "docs/CONFIGURATION.md has no server table: paste `python -m api.settings` there"
    table = itertools.takewhile(lambda line: line.startswith("|"), lines[lines.index(header) :])
    assert "\n".join(table) == rendered, "docs/CONFIGURATION.md's server table is stale: `python -m api.settings`"


def test_every_setting_is_described_and_its_flag_is_one_of_rights_serve():
    from rights import serve

    commands = argparse.ArgumentParser().add_subparsers()
    serve.add_commands(commands)
    options = set(re.findall(r"--[a-z-]+", commands.choices["serve"].format_help()))
    for name, field in Settings.model_fields.items():
        assert field.description, name
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        assert extra.get("flag", "--help") in options, name


def test_to_env_gives_back_the_same_settings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    changed = Settings(
        redis_url="redis://127.0.0.1:7000/0",
        port=0,
        workers=3,
        access_log=False,
        demo=True,
        header_timeout_s=0.5,
        api_keys="shop=shop-0123456789abcdef checkout",
    )
    for settings in (Settings(), changed):
        for name in Settings.model_fields:
            monkeypatch.delenv(variable(name), raising=False)
        for name, value in settings.to_env().items():
            monkeypatch.setenv(name, value)
        assert Settings.from_env() == settings
    assert "REDIS_URL" not in Settings().to_env()


@pytest.mark.parametrize(
    "name, value, said",
    [
        ("RIGHTS_PORT", "x", "RIGHTS_PORT='x': not a whole number"),
        ("RIGHTS_PORT", "80.5", "RIGHTS_PORT='80.5': not a whole number"),
        ("RIGHTS_WORKERS", "65", "RIGHTS_WORKERS='65': must be a finite number, from 1 to 64"),
        ("RIGHTS_BODY_TIMEOUT_S", "nan", "RIGHTS_BODY_TIMEOUT_S='nan': must be a finite number, at least 0.1"),
        (
            "RIGHTS_KEEPALIVE_TIMEOUT_S",
            "inf",
            "RIGHTS_KEEPALIVE_TIMEOUT_S='inf': must be a finite number, at least 0.1",
        ),
        ("RIGHTS_ACCESS_LOG", "maybe", "RIGHTS_ACCESS_LOG='maybe': not 1/0, true/false, yes/no or on/off"),
        (
            "REDIS_URL",
            "garbage",
            "REDIS_URL='garbage': not a Redis URL: write redis://host:port/db (rediss:// with TLS) or "
            "unix:///path/to/socket",
        ),
        (
            "REDIS_URL",
            "redis://127.0.0.1:x/0",
            "REDIS_URL='redis://127.0.0.1:x/0': not a Redis URL: Port could not be cast to integer value as 'x'",
        ),
    ],
)
def test_a_wrong_variable_is_refused_by_name(monkeypatch, tmp_path, name, value, said):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as refused:
        Settings.from_env()
    assert str(refused.value) == said


def test_flags_are_read_as_before_and_an_empty_variable_is_unset(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for text, meant in [("1", True), (" yes ", True), ("ON", True), ("true", True), ("0", False), ("off", False)]:
        monkeypatch.setenv("RIGHTS_MEMBER_CACHE", text)
        assert Settings.from_env().member_cache is meant, text
    monkeypatch.setenv("RIGHTS_MEMBER_CACHE", "")
    monkeypatch.setenv("RIGHTS_PORT", "")
    monkeypatch.setenv("REDIS_URL", "")
    settings = Settings.from_env()
    assert (settings.member_cache, settings.port, settings.redis_url) == (True, 8000, None)


def test_flags_win_over_variables_and_are_held_to_their_bounds(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RIGHTS_WORKERS", "4")
    assert Settings.from_env().workers == 4
    assert Settings.from_env(workers=2, port=None).workers == 2  # None: the flag was not given
    with pytest.raises(ValueError, match=r"^--workers 0: must be from 1 to 64$"):
        Settings.from_env(workers=0)
    with pytest.raises(TypeError, match="wrkers"):
        Settings.from_env(wrkers=2)


def test_a_dot_env_file_in_the_working_directory_under_the_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("REDIS_URL", "RIGHTS_PORT", "RIGHTS_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("REDIS_URL=redis://from-file:6379/0\nRIGHTS_PORT=8100\nEDITOR=vi\n")
    monkeypatch.setenv("RIGHTS_PORT", "8200")
    settings = Settings.from_env()
    assert (settings.redis_url, settings.port, settings.data_dir) == ("redis://from-file:6379/0", 8200, "var")
    assert Settings(port=1).redis_url is None  # Settings(...) reads neither

    (tmp_path / ".env").write_text("RIGHTS_WORKERS=many\n")
    with pytest.raises(ValueError, match=r"^RIGHTS_WORKERS='many' in \.env: not a whole number$"):
        Settings.from_env()
    (tmp_path / ".env").write_text("RIGHTS_ADMIN_TOKEN=secret-in-a-file\n")
    with pytest.raises(ValueError, match=r"^RIGHTS_ADMIN_TOKEN in \.env: only the server settings"):
        Settings.from_env()


def test_settings_are_frozen_and_copied_with_changes():
    settings = Settings(access_log=False)
    with pytest.raises(ValueError):
        settings.port = 1  # type: ignore[misc]
    moved = settings.model_copy(update={"redis_url": "redis://127.0.0.1:7001/0"})
    assert (moved.redis_url, moved.access_log, settings.redis_url) == ("redis://127.0.0.1:7001/0", False, None)
