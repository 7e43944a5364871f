"""`rights members import/show` and `rights serve`'s start-up checks, against a real Redis."""

import json
import os
import subprocess
import sys

import httpx
import orjson
import pytest
from conftest import CONFIGURED_EVALUATOR, ROOT, client_for

from api.redis.connect import sync_client
from rights.cli import main


def test_import_loads_good_rows_and_reports_bad_ones_by_line(tmp_path, redis_server, redis_client, capsys):
    rows = [
        {"id": "A1", "tier": "gold", "points": 1850, "phone": "13800000001", "openid": "oA1", "tags": ["fitness"]},
        {"id": "A2", "tier": "diamond"},
        {"id": "A3", "tier": "silver", "points": -5},
        "not json",
        {"id": "A5", "tier": "black_gold", "paid_until": "2027-01-01T00:00:00+08:00", "frozen": True},
    ]
    path = tmp_path / "members.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    assert main(["members", "import", str(path), "--redis-url", redis_server.url]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: tier: unknown tier 'diamond'" in err
    assert f"{path}:3: points: must be a whole number" in err
    assert f"{path}:4: not valid JSON" in err
    assert "imported 2 members, refused 3 rows" in err
    assert redis_client.get("idn:{openid:oA1}") == b"A1"
    assert main(["members", "show", "A5", "--redis-url", redis_server.url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["tier"] == "black_gold" and shown["frozen"] is True and shown["paid_until"] == 1798732800


def test_import_csv(tmp_path, redis_server, redis_client, capsys):
    path = tmp_path / "members.csv"
    path.write_text('id,tier,points,phone,tags\nC1,gold,100,13900000009,"fitness,office"\nC2,,0,,\nbad id,gold,1,,\n')
    assert main(["members", "import", str(path), "--redis-url", redis_server.url]) == 1
    assert f"{path}:4: id:" in capsys.readouterr().err
    assert main(["members", "show", "C1", "--redis-url", redis_server.url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["tags"] == ["fitness", "office"] and shown["identities"] == {"phone": "13900000009"}
    assert (
        json.loads(main(["members", "show", "C2", "--redis-url", redis_server.url]) == 0 and capsys.readouterr().out)[
            "tier"
        ]
        == "visitor"
    )


def test_a_csv_row_with_more_fields_than_the_header_is_refused(tmp_path, redis_server, redis_client, capsys):
    path = tmp_path / "members.csv"
    path.write_text("id,points\nX1,5\nX2,5,extra\nX3,7,\n")  # X3's trailing comma adds an empty field: nothing lost
    assert main(["members", "import", str(path), "--redis-url", redis_server.url]) == 1
    assert f"{path}:3: 3 fields, but the header names 2" in capsys.readouterr().err
    assert main(["members", "show", "X2", "--redis-url", redis_server.url]) == 1
    assert main(["members", "show", "X3", "--redis-url", redis_server.url]) == 0


def test_hostile_rows_are_refused_by_line_and_the_good_rows_around_them_load(
    tmp_path, redis_server, redis_client, capsys
):
    """Each bad row is reported and skipped; none stops the import or reaches a quote."""
    rows = [
        {"id": "H1", "points": "²"},  # a digit to str.isdigit(), not to int()
        {"id": "H2", "points": "--5"},
        {"id": "H3", "coupon_uses": {f"k{n}": 1 for n in range(1001)}},
        {"id": "H4", "tags": [f"t{n}" for n in range(101)]},
        {"id": "H5", "tags": ["has space"]},
        {"id": "H6", "leader": "L0}01"},
        {"id": "H7", "phone": 12345678901234567890123},  # past a 64-bit integer: a float to orjson
        {"id": "H8", "name": "nul\u0000inside"},
        {"id": "H9", "coupon_uses": {"<script>": 1}},
        {"id": "OK1", "points": "7", "tags": ["fitness"], "leader": "L001", "phone": 13800000099},
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\ufeff" + "\n".join(json.dumps(r) for r in rows) + "\n")  # with a byte-order mark
    assert main(["members", "import", str(path), "--redis-url", redis_server.url]) == 1
    err = capsys.readouterr().err
    for line, field in enumerate(
        ("points", "points", "coupon_uses", "tags", "tags", "leader", "phone", "name", "coupon_uses"), start=1
    ):
        assert f"{path}:{line}: {field}:" in err, (line, field, err)
    assert "imported 1 member, refused 9 rows" in err
    assert main(["members", "show", "OK1", "--redis-url", redis_server.url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["points"], shown["tags"], shown["identities"]) == (7, ["fitness"], {"phone": "13800000099"})


def test_a_csv_from_a_spreadsheet_loads_and_a_header_naming_a_column_twice_is_refused(
    tmp_path, redis_server, redis_client, capsys
):
    excel = tmp_path / "excel.csv"
    excel.write_bytes("\ufeffid,points,,\r\nE1,5,,\r\n".encode())  # with a spreadsheet's blank trailing columns
    assert main(["members", "import", str(excel), "--redis-url", redis_server.url]) == 0
    assert main(["members", "show", "E1", "--redis-url", redis_server.url]) == 0
    capsys.readouterr()
    twice = tmp_path / "twice.csv"
    twice.write_text("id,id,name\nT1,T2,x\n")
    assert main(["members", "import", str(twice), "--redis-url", redis_server.url]) == 1
    assert f"{twice}:1: id: column 'id' is named twice" in capsys.readouterr().err
    assert main(["members", "show", "T2", "--redis-url", redis_server.url]) == 1


def test_show_unknown_member(redis_server, redis_client, capsys):
    assert main(["members", "show", "NOBODY", "--redis-url", redis_server.url]) == 1
    assert "no member 'NOBODY'" in capsys.readouterr().err


def test_show_with_no_server_says_so_and_starts_nothing(tmp_path, monkeypatch, capsys):
    """A lookup in a folder where no server runs: one line saying how to point at one,
    exit 1, and no Redis started or data directory made."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("RIGHTS_DATA_DIR", raising=False)
    assert main(["members", "show", "M00001"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no running server holds var/" in err[0] and "--redis-url" in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_serve_without_redis_server_says_which_package(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path), "RIGHTS_DATA_DIR": str(tmp_path / "var")}
    env.pop("REDIS_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "rights", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "rights serve: redis-server is not installed; install the Debian package: apt-get install redis-server"
    ]


@pytest.mark.slow  # a real rights serve
def test_serve_names_the_evaluator_it_serves_with(serve):
    """The start line names the evaluator RIGHTS_EVALUATOR asks for (compiled by default),
    and the server quotes with it."""
    server = serve()
    assert f"rights serve: evaluator {CONFIGURED_EVALUATOR}, {server.url} (1 worker)" in server.stderr()
    answer = httpx.post(f"{server.url}/v1/eligibility", json={"lines": [{"sku": "MILK-1L", "qty": 2}]}, timeout=10)
    assert answer.status_code == 200 and answer.json()["totals"]["payable"] > 0


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru"])  # volatile: idempotency records have a TTL
def test_serve_refuses_a_redis_that_may_evict(redis_server, redis_client, tmp_path, policy):
    redis_client.config_set("maxmemory-policy", policy)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "rights", "serve", "--redis-url", redis_server.url, "--port", "1"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")
    assert out.returncode == 1 and f"maxmemory-policy is {policy}" in out.stderr


def test_serve_warns_of_a_redis_whose_streams_take_4_kb_each(redis_server, redis_client):
    """The embedded server (and the test servers, which are the same) keeps a stream's node
    small; a Redis left at the default of 4096 bytes is named at start."""
    from api.redis.connect import stream_node_warning
    from api.redis.embedded import STREAM_NODE_MAX_BYTES

    nodes = [sync_client(node.url) for node in getattr(redis_server, "nodes", [redis_server])]
    assert stream_node_warning(redis_client) is None
    for node in nodes:
        node.config_set("stream-node-max-bytes", 4096)
    try:
        warning = stream_node_warning(redis_client)
    finally:
        for node in nodes:
            node.config_set("stream-node-max-bytes", STREAM_NODE_MAX_BYTES)
    assert warning is not None and "stream-node-max-bytes is 4096" in warning and "4.5 KB" in warning


@pytest.mark.slow  # loads the 10,000 demo members
def test_example_request_is_valid_against_the_demo(redis_client, redis_server):
    from api.members_io import load_demo_members

    load_demo_members(redis_client)
    body = (ROOT / "examples" / "eligibility-request.json").read_bytes()
    with client_for(redis_server) as client:
        response = client.post("/v1/eligibility", content=body, headers={"X-Rights-Now": "1794402000"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["member"]["id"] == "M00001" and result["tier"] == "gold"
    assert orjson.loads(body)["room"] == result["room"]["id"]


def test_an_import_into_a_full_redis_says_how_far_it_got(redis_client, redis_server, tmp_path):
    rows = tmp_path / "members.jsonl"
    rows.write_text("".join(f'{{"id": "F{k}", "tier": "gold", "points": 10}}\n' for k in range(2500)))
    nodes = getattr(redis_server, "nodes", [redis_server])
    full = [sync_client(node.url) for node in nodes]
    for node in full:
        node.config_set("maxmemory", "1")  # every write refused: OOM
    try:
        out = subprocess.run(
            [sys.executable, "-m", "rights", "members", "import", str(rows), "--redis-url", redis_server.url],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
    finally:
        for node in full:
            node.config_set("maxmemory", "0")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"rights members import: Redis refused the rows up to {rows}:1000: OutOfMemoryError" in out.stderr
    assert "imported 0 before them" in out.stderr


def _members_with_one_bad_row(path, count: int = 2500, bad: int = 1200):
    rows = [f'{{"id": "P{k}", "tier": "gold", "points": 10}}\n' for k in range(count)]
    rows[bad - 1] = '{"id": "BAD", "tier": "diamond"}\n'
    path.write_text("".join(rows))
    return f"{path}:{bad}: tier: unknown tier 'diamond'"


def test_import_off_a_terminal_draws_no_bar_and_still_sums_up(tmp_path, redis_server, redis_client):
    """stderr a pipe (a log, CI): the refused rows and the summary, one line each, nothing else."""
    path = tmp_path / "members.jsonl"
    refused = _members_with_one_bad_row(path)
    out = subprocess.run(
        [sys.executable, "-m", "rights", "members", "import", str(path), "--redis-url", redis_server.url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 1 and out.stdout == ""
    assert "\r" not in out.stderr and "%|" not in out.stderr and "█" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(refused), out.stderr
    assert lines[1] == "imported 2499 members, refused 1 row"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pseudo-terminal as on Linux")
def test_import_on_a_terminal_draws_a_bar_with_refused_rows_on_lines_of_their_own(tmp_path, redis_server, redis_client):
    import fcntl
    import struct
    import termios

    path = tmp_path / "members.jsonl"
    refused = _members_with_one_bad_row(path)
    terminal, stderr = os.openpty()
    fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    process = subprocess.Popen(
        [sys.executable, "-m", "rights", "members", "import", str(path), "--redis-url", redis_server.url],
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=ROOT,
    )
    os.close(stderr)
    said = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        said += chunk
    os.close(terminal)
    assert process.wait(timeout=120) == 1 and process.stdout.read() == b""
    lines = said.decode().replace("\r\n", "\n").split("\n")
    frames = [frame for line in lines for frame in line.split("\r")]
    assert any(frame.startswith(refused) for frame in frames)  # the bar cleared, the row printed whole
    assert any(frame.startswith("100%|") and "2500/2500" in frame for frame in frames)
    assert [line for line in lines if line][-1] == "imported 2499 members, refused 1 row"


def test_show_names_the_members_coupon_grants_and_tier_progress(redis_server, redis_client, capsys):
    from api.redis.keys import member_key

    write = {"tier": "gold", "points": "100", "g:POINTS-50": "1796918400,1797004800", "sp:202611": "104200"}
    redis_client.hset(member_key("G9"), mapping={**write, "growth": "1042", "tier_since": "1794402000"})
    redis_client.hset(member_key("G9"), "review_at", "1825948800")
    assert main(["members", "show", "G9", "--redis-url", redis_server.url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["coupon_grants"] == {"POINTS-50": [1796918400, 1797004800]}
    assert (shown["spend_by_month"], shown["growth"]) == ({"202611": 104200}, 1042)
    assert (shown["tier_since"], shown["review_at"]) == (1794402000, 1825948800)


BIG = "x" * 200_000  # past csv's field size limit


@pytest.mark.parametrize(
    "name, text, rows",
    [
        ("m.jsonl", '{"id": "A1"}\n\n  \n{"id": "A2"}\nnot json\n[1]\n', 4),
        ("m.jsonl", "", 0),
        ("m.csv", 'id,tier,tags\nC1,gold,"a,\nb"\n\nC2,,\n,\n', 3),
        ("m.csv", "id,tier\n", 0),
        ("m.txt", "id,tier\nC1,gold\n\nC2,silver", 2),
        ("m.csv", f"id,tier\nC1,gold\nC2,{BIG}\nC3,silver\n", 2),
        ("m.csv", f'id,tier\nC1,gold\nC2,"{BIG}\nC9,gold\nmore"\nC3,silver\n', 2),
        ("m.csv", f"id,{BIG}\nC1,gold\n", 1),
    ],
    ids=[
        "json lines with blanks and bad rows",
        "empty",
        "csv with a quoted newline and a blank line",
        "csv header alone",
        "csv by its first line",
        "csv with a field past csv's limit: read up to it",
        "csv with such a field quoted over lines: none of them a row",
        "csv whose header is past it",
    ],
)
def test_the_import_bar_counts_the_rows_the_import_reads(name, text, rows):
    """The bar's total is counted before the rows are read (they are read as Redis writes
    the batch before): exactly as many rows, good and bad, as the import goes through. A
    CSV that csv cannot read further ends at a refusal of that line."""
    from api.members_io import count_rows, read_rows

    assert count_rows(text, name) == len(list(read_rows(text, name))) == rows


def test_a_csv_that_cannot_be_read_further_is_refused_at_its_line_and_what_came_before_loads(
    tmp_path, redis_server, redis_client, capsys
):
    path = tmp_path / "members.csv"
    path.write_text(f"id,tier\nC1,gold\n\nC2,{BIG}\nC3,silver\n")
    assert main(["members", "import", str(path), "--redis-url", redis_server.url]) == 1
    err = capsys.readouterr().err
    assert f"{path}:4: not valid CSV here, the rest not read: field larger than field limit" in err
    assert "Traceback" not in err and "imported 1 member, refused 1 row" in err
    assert redis_client.hget("m:{C1}", "tier") == b"gold" and not redis_client.exists("m:{C3}")


def test_import_reads_the_rows_as_it_writes_them(tmp_path, redis_server, redis_client, monkeypatch):
    """The import begins before the file's rows are all read: it reads the next batch while
    Redis writes the one before."""
    import api.members_import
    import api.members_io

    reading, read_all = api.members_io.read_rows, []

    def read_rows(text, name):
        yield from reading(text, name)
        read_all.append(True)

    importing = api.members_import.import_rows

    def import_rows(client, rows, *args, **kwargs):
        assert not read_all, "the rows were all read before the import began"
        return importing(client, rows, *args, **kwargs)

    monkeypatch.setattr(api.members_io, "read_rows", read_rows)
    monkeypatch.setattr(api.members_import, "import_rows", import_rows)
    path = tmp_path / "members.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"S{k}", "points": k}) for k in range(2500)) + "\n")
    assert main(["members", "import", str(path), "--redis-url", redis_server.url]) == 0
    assert read_all and redis_client.hget("m:{S2499}", "points") == b"2499"


@pytest.mark.parametrize("path", ["/dev/zero", "/"])
def test_an_import_of_a_device_or_a_directory_is_refused_before_reading(redis_server, capsys, path):
    assert main(["members", "import", path, "--redis-url", redis_server.url]) == 1
    assert capsys.readouterr().err == f"rights members import: {path}: not a file\n"


def test_an_argument_that_is_not_utf8_is_refused_in_one_line(redis_server, capsys):
    undecodable = b"M\xff\xfe".decode("utf-8", "surrogateescape")  # as Python reads such bytes from argv
    assert main(["members", "show", undecodable, "--redis-url", redis_server.url]) == 2
    assert capsys.readouterr().err == "rights members: an argument is not UTF-8 text\n"
