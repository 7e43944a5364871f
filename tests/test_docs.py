"""What the README and the docs print is what the product prints: the demo table's
version, and the version of the README's cheaper-milk table, wherever they appear."""

from __future__ import annotations

import re

from conftest import ROOT

from engine.demo import DEMO_RULES
from engine.rules.load import compile_source, load_file
from rights.cli import main

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "SECURITY.md"]


def versions_named(name: str) -> set:
    found = set()
    for page in PAGES:
        found |= set(re.findall(rf"\b{name}@[0-9a-f]{{12}}\b", page.read_text(encoding="utf-8")))
    return found


def test_the_demo_version_in_the_docs_is_the_demo_tables():
    assert versions_named("dairy-gala") == {load_file(DEMO_RULES).version}


def test_the_readmes_cheaper_milk_is_the_demo_with_milk_at_1490():
    source = DEMO_RULES.read_bytes()
    cheaper = source.replace(b"price: 1590\n", b"price: 1490\n", 1).replace(b"name: dairy-gala", b"name: cheaper-milk")
    assert (ROOT / "examples/rules/cheaper-milk.yaml").read_bytes() == cheaper  # the file the tour pushes
    assert versions_named("cheaper-milk") == {compile_source(cheaper).version}


def test_the_readmes_validation_is_what_validate_prints_for_the_example(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    command = "rights rules validate examples/rules/bad.yaml"
    shown = (ROOT / "README.md").read_text(encoding="utf-8").split(f"$ {command}\n", 1)[1].split("```", 1)[0]
    assert main(command.split()[1:]) == 1
    assert capsys.readouterr().err == shown


def _section(text: str, start: str, fence: str) -> str:
    """The body of the first ``` block of kind `fence` after `start` in `text`."""
    after = text.split(start, 1)[1]
    return after.split(f"```{fence}\n", 1)[1].split("```", 1)[0]


def test_the_readmes_between_orders_tour_is_what_the_server_answers(redis_client, redis_server, tmp_path):
    """The README's curl commands, run as written against the demo (its first members and
    leaders), answer what the README shows: every shown piece, in order, where `...`
    stands for what it leaves out."""
    import shlex

    from conftest import client_for

    from api.leaders import write_leaders
    from api.members_io import demo_leaders, demo_members
    from api.store import write_members

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    script = _section(readme, "**Between orders**", "sh").replace("\\\n", " ")
    assignments, commands = script.split("\n", 1)
    variables = dict(re.findall(r"(\w+)='([^']*)'", assignments))
    for name, value in variables.items():
        commands = commands.replace(f'"${name}"', shlex.quote(value))
    calls = []
    for word in shlex.split(commands):
        if word == "curl":
            calls.append({"headers": {}})
            continue
        option = calls[-1].pop("option", None)
        if option == "-H":
            name, _, value = word.partition(": ")
            calls[-1]["headers"][name] = value
        elif option == "-d":
            calls[-1]["body"] = word
        elif word in ("-H", "-d"):
            calls[-1]["option"] = word
        elif word.startswith("localhost:8000"):
            calls[-1]["path"] = word.removeprefix("localhost:8000")
    shown = re.findall(r"^\{.*?(?=^\{|\Z)", _section(readme, "**Between orders**", "text"), re.S | re.M)
    assert len(calls) == len(shown) == 3, (calls, shown)

    write_members(redis_client, demo_members(count=4))
    write_leaders(redis_client, demo_leaders())
    with client_for(redis_server, rules=str(DEMO_RULES), demo=True, data_dir=str(tmp_path)) as api:
        for call, answer in zip(calls, shown):
            got = api.post(call["path"], content=call["body"], headers=call["headers"])
            assert got.status_code == 200, got.text
            at = 0
            for piece in answer.replace("\n ", "").replace("\n", "").split("..."):
                piece = piece.strip(",")
                if piece:
                    found = got.text.find(piece, at)
                    assert found >= 0, f"{call['path']}: {piece!r} not in {got.text[at:]!r}"
                    at = found + len(piece)
