"""Server settings: a pydantic-settings model, read from the environment and a `.env` file,
overridden by `rights serve` flags.

Each field is one variable, `RIGHTS_<FIELD>` (`REDIS_URL` has no prefix), typed, bounded
and described here; docs/CONFIGURATION.md's server table is rendered from these fields
(`python -m api.settings` prints it, and a test holds the page to it).

- `Settings(...)` is the values given and the defaults for the rest: it reads nothing
  (the tests build one so).
- `Settings.from_env(**flags)` reads `.env` in the working directory, then the real
  environment (which wins over `.env`), then the flags given (which win over both, and
  are held to the same bounds). An empty variable counts as unset. A wrong value is a
  ValueError naming the variable (`RIGHTS_PORT='x': not a whole number`) or the flag
  (`--workers 0: must be from 1 to 64`); `rights serve` prints it and exits 2.
- `to_env()` gives the same variables back, for the worker processes.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource, SettingsConfigDict

from engine.demo import DEMO_RULES

MAX_WORKERS = 64  # worker processes one server may run
PREFIX = "RIGHTS_"
ENV_FILE = ".env"  # in the working directory; the real environment wins over it


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=ENV_FILE,
        env_ignore_empty=True,
        frozen=True,
        populate_by_name=True,  # Settings(redis_url=...) as well as the variable REDIS_URL
    )

    redis_url: str | None = Field(
        default=None,
        validation_alias="REDIS_URL",
        description="the Redis to use (`redis://`, `rediss://`; a Cluster is found by asking it); "
        "without it `rights serve` starts its own redis-server",
        json_schema_extra={"flag": "--redis-url"},
    )
    rules: str = Field(
        default=str(DEMO_RULES),
        description="the rule table file served at start (Redis's active version wins unless `--push-rules`)",
        json_schema_extra={"flag": "--rules", "shown": "the demo table"},
    )
    brand: str = Field(
        default="main",
        pattern=r"^[a-z0-9][a-z0-9-]{0,31}$",
        description="the home brand: the brand of a request that names none and whose room is no other "
        "brand's ([docs/BRANDS.md](BRANDS.md))",
        json_schema_extra={"flag": "--brand", "shown": "`main` (`dairy` with `--demo`)"},
    )
    brand_rules: str = Field(
        default="",
        description="further brands and the rule table each serves at start, `brand=FILE` entries separated "
        "by `;` (Redis's active version of each wins, as for `--rules`)",
        json_schema_extra={"flag": "--brand-rules", "shown": "none (`grain` with `--demo`)"},
    )
    data_dir: str = Field(
        default="var",
        description="the embedded redis-server's data (AOF) and the data directory's lock; one server per directory",
        json_schema_extra={"flag": "--data-dir", "shown": "`./var`"},
    )
    host: str = Field(default="127.0.0.1", description="where the API listens", json_schema_extra={"flag": "--host"})
    port: int = Field(
        default=8000,
        ge=0,
        le=65535,
        description="the port (0: a free one, chosen at start, named on the start line and kept across restarts)",
        json_schema_extra={"flag": "--port"},
    )
    workers: int = Field(
        default=1, ge=1, le=MAX_WORKERS, description="worker processes", json_schema_extra={"flag": "--workers"}
    )
    access_log: bool = Field(
        default=True,
        description="one JSON line per request on stdout; `0` (or the flag) switches it off",
        json_schema_extra={"flag": "--no-access-log"},
    )
    demo: bool = Field(
        default=False,
        description="load the demo rules and 10,000 demo members, and allow `X-Rights-Now`",
        json_schema_extra={"flag": "--demo"},
    )
    allow_clock_override: bool = Field(
        default=False,
        description="`1`: a request may set the instant with the `X-Rights-Now` header, Unix seconds (rehearsals "
        "and tests only; `--demo` sets it). A value past 32503679999 (the year 3000) is refused with 422 on "
        "`X-Rights-Now` before anything is read or written; one that is not digits is ignored",
        json_schema_extra={"flag": "--demo"},
    )
    api_keys: str = Field(
        default="",
        description="`channel=key scope...` entries separated by `;`; member routes then need `X-Api-Key` "
        "([SECURITY.md](../SECURITY.md)); with neither this nor a file, member routes are open",
    )
    api_keys_file: str = Field(
        default="", description="a file of such entries, one a line (`#` comments), read at start"
    )
    max_body_bytes: int = Field(default=65536, ge=1, description="a larger request body gets 413")
    max_rules_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="the same for a table pushed to `POST /v1/rules` or tried with `POST /v1/rules/simulate`",
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="a larger request head (request line and headers) gets 431 and the connection closed",
    )
    header_timeout_s: float = Field(
        default=10.0,
        ge=0.1,
        allow_inf_nan=False,
        description="a connection whose request head is not complete by then (seconds) is closed",
    )
    body_timeout_s: float = Field(
        default=60.0, ge=0.1, allow_inf_nan=False, description="a request whose body is not complete by then is cut"
    )
    keepalive_timeout_s: float = Field(
        default=5.0, ge=0.1, allow_inf_nan=False, description="an idle keep-alive connection is closed after this"
    )
    max_connections: int = Field(default=2048, ge=1, description="connections per worker; past it requests get 503")
    redis_timeout_ms: int = Field(
        default=250, ge=1, description="a Redis that does not answer within this is a 503 `redis_unavailable`"
    )
    batch_lookups: bool = Field(
        default=True, description="the member lookups of one event-loop turn share one pipeline"
    )
    member_cache: bool = Field(
        default=True,
        description="keep members in the worker, invalidated by Redis (client-side caching with tracking)",
    )
    events_per_minute: int = Field(
        default=60,
        ge=0,
        le=1000,
        description="events a member may send in any 60 s (429 past it); `0`: no limit. "
        "Redis keeps the instants of that many per member",
    )
    redemptions_per_minute: int = Field(
        default=20, ge=0, le=1000, description="redemption attempts a member may make in any 60 s; `0`: no limit"
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        """`Settings(...)` reads only what it is given; `from_env` reads the environment and `.env` itself."""
        return (init_settings,)

    @field_validator("redis_url")
    @classmethod
    def _readable_url(cls, value: str | None) -> str | None:
        """A URL redis-py can read, refused at start rather than at the first connection."""
        if value:
            from .redis.connect import RedisUrlInvalid, checked_url

            try:
                checked_url(value)
            except RedisUrlInvalid as exc:
                raise ValueError(f"not a Redis URL: {exc.why}") from None
        return value or None

    @field_validator("*", mode="before")
    @classmethod
    def _switch_text(cls, value: Any, info: ValidationInfo) -> Any:
        """A switch's text is read stripped (`RIGHTS_ACCESS_LOG=" yes"` is yes), as numbers' are."""
        if isinstance(value, str) and info.field_name and cls.model_fields[info.field_name].annotation is bool:
            return value.strip()
        return value

    @classmethod
    def from_env(cls, **flags: Any) -> Settings:
        """`.env`, then the environment over it, then the flags not None over both; see the module's doc."""
        by_key = {variable(name).lower(): name for name in cls.model_fields} | {name: name for name in cls.model_fields}
        read: dict[str, tuple[str, str]] = {}  # field -> (where it came from, the text)
        for source, where in ((DotEnvSettingsSource(cls), ENV_FILE), (EnvSettingsSource(cls), "")):
            for key, text in source().items():
                name = by_key.get(key.lower())
                if name is not None:
                    read[name] = (where, text)
                elif key.lower().startswith(PREFIX.lower()):  # another RIGHTS_ variable in .env
                    raise ValueError(
                        f"{key.upper()} in {ENV_FILE}: only the server settings are read from {ENV_FILE} "
                        "(docs/CONFIGURATION.md); set it in the environment"
                    )
        unknown = set(flags) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"Settings.from_env: no such setting {', '.join(sorted(unknown))}")
        given = {name: value for name, value in flags.items() if value is not None}
        values = {name: text for name, (_, text) in read.items()} | given
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ValueError(_first_problem(exc, read, given)) from None

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables, for worker processes (REDIS_URL only when set)."""
        out = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            out[variable(name)] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out


def variable(name: str) -> str:
    """The environment variable of a field: `RIGHTS_PORT` for `port`, `REDIS_URL` for `redis_url`."""
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else PREFIX + name.upper()


def _extra(name: str) -> dict:
    """What the field declares for the table: its `flag`, and a `shown` default."""
    extra = Settings.model_fields[name].json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _bounds(name: str) -> tuple[float | None, float | None]:
    low = high = None
    for rule in Settings.model_fields[name].metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    return low, high


def _bound_text(name: str) -> str:
    low, high = _bounds(name)
    return f"from {low} to {high}" if high is not None else f"at least {low}"


def _first_problem(exc: ValidationError, read: dict[str, tuple[str, str]], flags: dict[str, Any]) -> str:
    """One line naming the flag or the variable (and `.env` when the value came from there)."""
    error = exc.errors(include_url=False)[0]
    name, kind = str(error["loc"][0]), error["type"]  # loc: the field's name, as `from_env` passes them
    bounded = kind in ("greater_than_equal", "less_than_equal", "finite_number")
    if name in flags:
        flag = _extra(name).get("flag", "--" + name.replace("_", "-"))
        return f"{flag} {flags[name]}: " + (
            f"must be {_bound_text(name)}" if bounded else error["msg"].removeprefix("Value error, ")
        )
    where, text = read.get(name, ("", error["input"]))
    said = f"{variable(name)}={text!r}" + (f" in {where}" if where else "")
    if kind in ("int_parsing", "int_from_float"):
        return f"{said}: not a whole number"
    if kind == "float_parsing":
        return f"{said}: not a number"
    if bounded:
        return f"{said}: must be a finite number, {_bound_text(name)}"
    if kind == "bool_parsing":
        return f"{said}: not 1/0, true/false, yes/no or on/off"
    return f"{said}: {error['msg'].removeprefix('Value error, ')}"


def _shown_default(name: str) -> str:
    if "shown" in _extra(name):
        return str(_extra(name)["shown"])
    value = Settings.model_fields[name].default
    if value is None or value == "":
        return "(none)"
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _values(name: str) -> str:
    annotation = Settings.model_fields[name].annotation
    if annotation is bool:
        return "`0` or `1`"
    if annotation in (int, float):
        low, high = _bounds(name)
        what = "whole number" if annotation is int else "number"
        return f"{what}, {low} to {high}" if high is not None else f"{what}, at least {low}"
    return ""


def settings_table() -> str:
    """docs/CONFIGURATION.md's server table, from the fields: the page holds exactly this."""
    rows = ["| variable | flag | default | values | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        flag = f"`{_extra(name)['flag']}`" if "flag" in _extra(name) else ""
        cells = [f"`{variable(name)}`", flag, _shown_default(name), _values(name), field.description or ""]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
