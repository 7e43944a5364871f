"""What the README and the docs print is what the product prints: the demo table's
version, and the version of the README's cheaper-milk table, wherever they appear."""

from __future__ import annotations

import re

from conftest import ROOT

from engine.demo import DEMO_RULES
from engine.rules.load import compile_source, load_file

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
    assert versions_named("cheaper-milk") == {compile_source(cheaper).version}
