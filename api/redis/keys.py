"""The names of a member's Redis keys. Every key of one member carries the member id as
its hash tag, so all of them share one Redis Cluster slot and one script may touch them
together; an identity key has its own tag (a channel and its value)."""
from __future__ import annotations


def member_key(member_id: str) -> str:
    return f"m:{{{member_id}}}"


def identity_key(channel: str, value: str) -> str:
    return f"idn:{{{channel}:{value}}}"
