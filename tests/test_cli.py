"""The `rights` command as a rule author and a checkout developer use it."""

import json
import os
import subprocess
import sys

import pytest
from conftest import CONFIGURED_EVALUATOR, ROOT

from rights.cli import main

DEMO = str(ROOT / "examples" / "rules" / "dairy-gala.yaml")


def test_validate_ok(capsys):
    assert main(["rules", "validate", DEMO]) == 0
    out = capsys.readouterr().out
    assert "ok, version dairy-gala@" in out and "9 coupons" in out


def test_validate_reports_every_error_with_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "tiers:\n  - id: gold\nproducts:\n  - sku: A\n    price: 19.9\n"
        "coupons:\n  - id: X\n    kind: bogus\n    window: {from: room_start}\n"
    )
    assert main(["rules", "validate", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"{bad}:5: products[0].price: must be a whole number of fen" in err[0]
    assert err[1].startswith(f"{bad}:8: coupons[0].kind: unknown kind 'bogus'")
    assert err[2].startswith(f"{bad}:9: coupons[0].window.from:")
    assert err[3] == f"{bad}: 3 errors"


def test_validate_reports_event_rule_mistakes_with_their_lines(tmp_path, capsys):
    bad = tmp_path / "events.yaml"
    bad.write_text(
        "tiers:\n  - {id: gold, name: Gold}\n"
        "points:\n"
        "  events:\n"
        "    share: {points: 5}\n"
        "    check_in: {points: 5, cap_per_day: 1}\n"
        "    comment: {points: 2, cap_per_wek: 6}\n"
        "    share: {points: 3}\n"
        "    photo-review: {points: 30}\n"
        "    live_reply: {points: 3, session_only: true}\n"
    )
    assert main(["rules", "validate", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{bad}:6: points.events.check_in.cap_per_day: caps count points, and 1 is less")
    assert err[1].startswith(
        f"{bad}:7: points.events.comment.cap_per_wek: unknown field (did you mean 'cap_per_week'?)"
    )
    assert err[2] == f"{bad}:8: points.events.share: event kind 'share' is named twice (first on line 5)"
    assert err[3].startswith(f"{bad}:9: points.events.photo-review: an event kind is a lower-case name")
    assert "did you mean 'photo_review'?" in err[3]
    assert err[4] == (
        f"{bad}:10: points.events.live_reply.session_only: its points last one live session, "
        "and the table lists no rooms: add `rooms`"
    )
    assert err[5] == f"{bad}: 5 errors"


def test_validate_refuses_an_event_kind_named_twice_in_json(tmp_path, capsys):
    bad = tmp_path / "events.json"
    bad.write_text(
        '{"tiers": [{"id": "gold", "name": "Gold"}], "products": [{"sku": "share", "name": "share:", "price": 100}],'
        ' "points": {"events": {"check_in": {"points": 5}, "check_in": {"points": 5, "cap_per_day": 5}}}}'
    )
    assert main(["rules", "validate", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{bad}: points.events.check_in: event kind 'check_in' is named twice", f"{bad}: 1 error"]


def test_validate_reports_a_syntax_error_with_its_line(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text("tiers:\n  - id: gold\n  - id: [unclosed\n")
    assert main(["rules", "validate", str(bad)]) == 1
    assert f"{bad}:4: invalid YAML" in capsys.readouterr().err


def test_validate_missing_file(capsys, tmp_path):
    assert main(["rules", "validate", "/nonexistent/rules.yaml"]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["rules", "validate", str(tmp_path)]) == 1
    assert f"{tmp_path}: a directory, not a file" in capsys.readouterr().err


def test_schema_is_json_schema(capsys):
    assert main(["rules", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "coupons" in schema["properties"]


def test_local_quote(capsys):
    code = main(
        [
            "quote",
            "--rules",
            DEMO,
            "--member",
            '{"tier": "gold", "points": 1850}',
            "--room",
            "gala",
            "--at",
            "2026-11-11T21:00:00+08:00",
            "--item",
            "MILK-1L:2",
            "--item",
            "YOGURT-6:1",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["totals"] == {"subtotal": 5570, "discount": 836, "payable": 4734}
    assert result["evaluator"] == CONFIGURED_EVALUATOR  # the one RIGHTS_EVALUATOR names, compiled by default
    assert result["rules_version"].startswith("dairy-gala@")


def test_local_quote_with_the_reference_evaluator_agrees(capsys):
    args = [
        "quote",
        "--member",
        '{"tier": "black_gold"}',
        "--room",
        "gala",
        "--at",
        "2026-11-11T21:00",
        "--item",
        "CHEESE-LTD:1",
        "--item",
        "POWDER-900:1",
        "--pickup",
        "--compact",
    ]
    main(args + ["--evaluator", "compiled"])
    compiled = json.loads(capsys.readouterr().out)
    main(args + ["--evaluator", "reference"])
    reference = json.loads(capsys.readouterr().out)
    assert compiled.pop("evaluator") == "compiled" and reference.pop("evaluator") == "reference"
    assert compiled == reference


def test_quote_input_errors_name_the_field(capsys):
    assert main(["quote", "--member", '{"tier": "diamond"}', "--item", "MILK-1L:1"]) == 1
    assert "member.tier: unknown tier 'diamond'" in capsys.readouterr().err
    assert main(["quote", "--member", '{"tier": "gold", "pts": 3}']) == 1
    assert "member.pts: unknown field" in capsys.readouterr().err
    assert main(["quote", "--item", "MILK-1L:0"]) == 1
    assert "lines[0].qty" in capsys.readouterr().err
    assert main(["quote", "--at", "yesterday"]) == 1
    assert "--at 'yesterday' is not a time" in capsys.readouterr().err


def test_console_script_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "rights", "rules", "validate", DEMO], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


@pytest.mark.parametrize(
    "command",
    [
        "rules validate",
        "rules schema",
        "rules generate-large",
        "rules push",
        "rules status",
        "rules diff",
        "rules simulate",
        "rules cancel",
        "rules rollback",
        "quote",
        "bench engine",
        "bench api",
        "bench reload",
        "bench ledger",
        "bench rush",
        "bench all",
        "serve",
        "members import",
        "members show",
        "leaders import",
    ],
)
def test_every_command_is_always_there(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([*command.split(), "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: rights {command} ")


def test_local_diff_of_two_files(tmp_path, capsys):
    old = ROOT / "engine" / "demo" / "dairy-gala.yaml"
    new = tmp_path / "new.yaml"
    new.write_text(
        old.read_text()
        .replace("price: 1590\n", "price: 1490\n", 1)
        .replace("    percent_off: 15\n", "    percent_off: 20\n", 1)
    )
    assert main(["rules", "diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("2 change(s)")
    assert "  product MILK-1L price: 15.90 yuan -> 14.90 yuan" in out
    assert "  coupon GOLD-GALA-85 percent_off: 15 -> 20" in out


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--workers", "0"], "--workers 0: must be from 1 to 64"),
        (["--workers", "65"], "--workers 65: must be from 1 to 64"),
        (["--port", "70000"], "--port 70000: must be from 0 to 65535"),
    ],
)
def test_serve_refuses_a_flag_past_its_bounds_before_starting_anything(flags, said, capsys):
    assert main(["serve", *flags]) == 2
    assert said in capsys.readouterr().err


def test_validate_sorts_errors_by_line_and_suggests_close_names(tmp_path, capsys):
    path = tmp_path / "typo.yaml"
    path.write_text(
        "format: 1\nname: typo\ntiers:\n  - {id: silver}\n  - {id: gold}\n"
        "coupons:\n  - {id: C1, name: c, kind: percent_of, percent_off: 10, room: gal}\n"
        "products:\n  - {sku: MILK-1L, price: 1590, tier_price: {gold: 1490}}\n"
        "  - {sku: EGGS, price: 990, tier_prices: {silvr: 900}}\n"
        'rooms:\n  - {id: gala, start: "2026-11-11T20:00:00+08:00", end: "2026-11-11T23:00:00+08:00"}\n'
    )
    assert main(["rules", "validate", str(path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()[:-1]
    numbers = [int(line.split(":")[1]) for line in lines]
    assert numbers == sorted(numbers), lines
    text = "\n".join(lines)
    assert "unknown kind 'percent_of' (did you mean 'percent_off'?)" in text
    assert "unknown room 'gal' (did you mean 'gala'?)" in text
    assert "tier_price: unknown field (did you mean 'tier_prices'?)" in text
    assert "unknown tier 'silvr' (did you mean 'silver'?)" in text


def test_a_key_written_twice_in_yaml_is_refused_at_its_line(tmp_path, capsys):
    twice = tmp_path / "twice.yaml"
    twice.write_text(
        "tiers: [{id: x}]\n"
        "products: [{sku: A, category: c, price: 100}]\n"
        "products: [{sku: B, category: c, price: 100, price: 200}]\n"
        "base: &base {percent_off: 10}\n"
    )
    assert main(["rules", "validate", str(twice)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"{twice}:3: products: written twice in one mapping (first on line 2); YAML would keep only the last" in err
    assert f"{twice}:3: price: written twice in one mapping (first on line 3); YAML would keep only the last" in err


def test_a_price_in_yaml_1_1_s_base_60_or_octal_is_refused_not_read_as_another_amount(tmp_path, capsys):
    """`1:40` is 100 and `0100` is 64 to YAML 1.1: here both are text, refused at their line."""
    odd = tmp_path / "odd.yaml"
    odd.write_text(
        "tiers: [{id: x}]\nproducts:\n  - {sku: A, category: c, price: 1:40}\n  - {sku: B, category: c, price: 0100}\n"
    )
    assert main(["rules", "validate", str(odd)]) == 1
    err = capsys.readouterr().err
    assert f"{odd}:3: products[0].price:" in err and f"{odd}:4: products[1].price:" in err, err
    plain = tmp_path / "plain.yaml"
    plain.write_text("tiers: [{id: x}]\nproducts:\n  - {sku: A, category: c, price: 1_000}\n")
    assert main(["rules", "validate", str(plain)]) == 0


def test_a_yaml_merge_key_overridden_is_not_a_repeat(tmp_path, capsys):
    merged = tmp_path / "merged.yaml"
    merged.write_text(
        "tiers: [{id: x}]\nproducts:\n  - &milk {sku: A, category: c, price: 100}\n  - {<<: *milk, sku: B, price: 90}\n"
    )
    assert main(["rules", "validate", str(merged)]) == 0, capsys.readouterr().err


def test_diff_and_simulate_name_the_file_they_cannot_read(tmp_path, capsys):
    unclosed = tmp_path / "unclosed.yaml"
    unclosed.write_text("tiers: [\n  {id: x\n")
    assert main(["rules", "diff", DEMO, str(unclosed)]) == 1
    assert capsys.readouterr().err.startswith(f"{unclosed}:3: invalid YAML")
    carts = tmp_path / "carts.json"
    carts.write_text('[\n {"lines": ]\n')
    assert main(["rules", "simulate", DEMO, "--carts", str(carts)]) == 1
    assert capsys.readouterr().err.startswith(f"{carts}:2: not valid JSON")
    assert main(["rules", "simulate", DEMO, "--carts", str(tmp_path / "none.json")]) == 1
    assert capsys.readouterr().err == f"rights rules simulate: {tmp_path / 'none.json'}: No such file or directory\n"


def test_a_mapping_merged_before_it_is_read_keeps_its_own_keys_apart():
    """A shallower mapping merging a deeper anchored one spreads the merge into the deeper
    node first; the deeper node's override of its own merge is still not a repeat."""
    from engine.rules.source import parse_noting_repeats

    _, repeats = parse_noting_repeats(b"a: {b: [&gold {<<: {x: 1}, x: 2}]}\nc: {<<: *gold}\nd: {y: 1, y: 2}\n")
    assert repeats == [("y", 3, 3)]  # (what `c` holds differs between PyYAML releases; the repeats do not)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["members", "show", "M1", "--redis-url", "garbage"], "rights members: 'garbage' is not a Redis URL: write"),
        (["ledger", "verify", "--all", "--redis-url", "http://x"], "rights ledger: 'http://x' is not a Redis URL"),
        (
            ["rules", "status", "--server", "garbage"],
            "rights rules: --server 'garbage': not an http:// or https:// URL",
        ),
    ],
)
def test_a_url_the_commands_cannot_use_is_refused_in_one_line(argv, said, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(said) and len(err.splitlines()) == 1


def test_an_unknown_evaluator_is_refused_in_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "rights", "quote", "--member", "{}", "--item", "MILK-1L:1"],
        cwd=ROOT,
        env={**os.environ, "RIGHTS_EVALUATOR": "nope"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == "rights: RIGHTS_EVALUATOR='nope': unknown evaluator; choose one of compiled, reference\n"
