"""Signed pickup codes: a leader's app verifies one without asking the server.

A code names what it is for and carries an HMAC-SHA256 tag over it:

    P1~<member id>~<redemption id>~<leader id or *>~<serial>~<tag>

The tag's key is derived per leader, HMAC(secret, "leader:" + leader id), so a leader's
app holds its own key only: it can check codes made out to it and cannot make codes for
another leader. A code for `*` (a member with no leader) is signed with the key of `*`,
which every leader's app may hold. The secret is `RIGHTS_PICKUP_SECRET`; the embedded
default keeps one in the data directory.

A valid tag shows who may check a code, not that it was issued: a leader's app could sign
one itself. Handing over goes by the pick list the code was put on (api/pickups.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

ANY_LEADER = "*"
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
_SERIAL = re.compile(r"^[0-9]{1,20}\Z")  # ASCII digits only: str.isdigit() also takes '²'


@dataclass(frozen=True)
class PickupCode:
    member_id: str
    redemption_id: str
    leader_id: str
    serial: int


class CodeInvalid(ValueError):
    pass


def leader_key(secret: bytes, leader_id: str) -> bytes:
    """The key a leader's app holds: enough to verify its own codes, no one else's."""
    return hmac.new(secret, b"leader:" + leader_id.encode(), hashlib.sha256).digest()


def _tag(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:15]
    return base64.urlsafe_b64encode(digest).decode()  # 20 characters


def make_code(secret: bytes, code: PickupCode) -> str:
    payload = f"P1~{code.member_id}~{code.redemption_id}~{code.leader_id}~{code.serial}"
    return f"{payload}~{_tag(leader_key(secret, code.leader_id), payload)}"


def read_code(text: str) -> PickupCode:
    """The code's claims, unverified; CodeInvalid when it is not a code at all."""
    parts = text.split("~") if isinstance(text, str) and len(text) <= 400 else []
    if len(parts) != 6 or parts[0] != "P1" or not _SERIAL.match(parts[4]):
        raise CodeInvalid("not a pickup code")
    member_id, redemption_id, leader_id = parts[1:4]
    if not all(_PART.match(p) for p in (member_id, redemption_id)) or not (
        leader_id == ANY_LEADER or _PART.match(leader_id)
    ):
        raise CodeInvalid("not a pickup code")
    return PickupCode(member_id, redemption_id, leader_id, int(parts[4]))


def verify_code(key: bytes, text: str) -> PickupCode:
    """What a leader's app does with its key: the claims if the tag is right."""
    code = read_code(text)
    payload, _, tag = text.rpartition("~")
    if not hmac.compare_digest(_tag(key, payload), tag):
        raise CodeInvalid("the code's signature does not match: it was not issued for this leader")
    return code


def load_secret(data_dir: str | None) -> bytes:
    """RIGHTS_PICKUP_SECRET, or one kept in `<data_dir>/pickup.secret` (made on first use)."""
    configured = os.environ.get("RIGHTS_PICKUP_SECRET", "")
    if configured:
        return configured.encode()
    path = Path(data_dir or "var") / "pickup.secret"
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    temporary = path.with_name(f"pickup.secret.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    try:
        os.link(temporary, path)  # the first worker's secret wins; the others read it
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)
    return path.read_bytes().strip()
