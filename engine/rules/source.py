"""Reading a rule table file safely, and finding the line a field was written on.

YAML is parsed with the safe loader only (no tags that build objects), with a size limit,
a limit on aliases, and a limit on the size the aliases would expand to, so an
entity-expansion file ("billion laughs": nine aliases of nine aliases...) is refused
before anything walks it. JSON is
parsed with orjson. Line numbers are found only when there are errors to report, by
composing the document once more into YAML nodes that keep their marks.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml

MAX_SOURCE_BYTES = 64 * 1024 * 1024
MAX_ALIASES = 100
MAX_EXPANDED_NODES = 20_000_000  # what a table's YAML nodes may expand to through its aliases
MAX_NESTING = 100  # lists and mappings within each other; a table needs about six, and YAML's composer recurses in C
NESTED = f"nested more than {MAX_NESTING} levels deep (lists and mappings)"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SourceError(ValueError):
    """The file cannot be read as a rule table at all (syntax, size, encoding)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped when its name ends in .gz."""
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path) as stream:  # read at most one byte past the limit: no gzip bomb
            raw = stream.read(MAX_SOURCE_BYTES + 1)
    else:
        raw = path.read_bytes()
    if len(raw) > MAX_SOURCE_BYTES:
        raise SourceError(f"file is larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MiB")
    return raw


def looks_like_json(raw: bytes) -> bool:
    return raw.lstrip()[:1] in (b"{", b"[")


# YAML 1.1 reads `1:40` as 100 (base 60) and `0100` as 64 (octal): a price typed so would load
# as another amount without a word. Here a number is decimal (underscores allowed); those
# forms stay text, which the checks then refuse at their line.
_DECIMAL_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$")
_DECIMAL_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


class _KeysOnceLoader(_Loader):  # type: ignore[valid-type,misc]
    """The safe loader, noting each key written twice in one mapping, which a plain load
    would drop without a word (it keeps the last): (key, its line, the line of its first).
    A mapping's own keys are read before its merges (`<<: *base`) are spread into it,
    which may override them; keys are compared as written (tag and text)."""

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
        for first, resolvers in _Loader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str):
        super().__init__(stream)
        self.repeats: list[tuple[Any, int, int]] = []
        self._read: set[int] = set()

    def flatten_mapping(self, node: Any) -> None:
        if id(node) not in self._read:  # before the merge spreads other keys into node.value, in place
            self._read.add(id(node))
            first: dict = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag in _NOT_KEYS:
                    continue
                key, line = (key_node.tag, key_node.value), key_node.start_mark.line + 1
                if key in first:
                    self.repeats.append((key_node.value, line, first[key]))
                else:
                    first[key] = line
        super().flatten_mapping(node)


_NOT_KEYS = frozenset(("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"))


_KeysOnceLoader.add_implicit_resolver(_INT_TAG, _DECIMAL_INT, list("-+0123456789"))
_KeysOnceLoader.add_implicit_resolver(_FLOAT_TAG, _DECIMAL_FLOAT, list("-+0123456789."))


def parse(raw: bytes) -> Any:
    """Parse JSON or YAML text into plain Python data."""
    return parse_noting_repeats(raw)[0]


def parse_noting_repeats(raw: bytes) -> tuple[Any, list[tuple[Any, int, int]]]:
    """`parse`, and the keys YAML text writes twice in one mapping (key, line, first line);
    none for JSON, whose parser keeps the last of a repeated key, as JSON parsers do."""
    if len(raw) > MAX_SOURCE_BYTES:
        raise SourceError(f"rule table is larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MiB")
    if looks_like_json(raw):
        try:
            return orjson.loads(raw), []
        except orjson.JSONDecodeError as exc:
            line = getattr(exc, "lineno", None)
            if "depth limit" in str(exc):  # orjson's own limit (1,024), in its newer releases
                raise SourceError(NESTED, line=line) from None
            raise SourceError(f"invalid JSON: {exc}", line=line) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"not UTF-8 text: {exc}") from None
    try:
        refuse_deep_nesting(text)
        if "*" in text:
            aliases = _count_aliases(text)
            if aliases > MAX_ALIASES:
                raise SourceError(f"more than {MAX_ALIASES} YAML aliases; refusing to expand them")
            if aliases and _expanded_size(yaml.compose(text, Loader=_Loader)) > MAX_EXPANDED_NODES:
                raise SourceError(
                    f"its aliases would expand to more than {MAX_EXPANDED_NODES:,} nodes; refusing to expand them"
                )
        loader = _KeysOnceLoader(text)
        try:
            return loader.get_single_data(), loader.repeats
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        if "nesting depth" in str(exc.problem):  # libyaml's own limit (1,000), in its newer releases
            raise SourceError(NESTED, line=line) from None
        raise SourceError(f"invalid YAML: {exc.problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise SourceError(f"invalid YAML: {exc}") from None
    except RecursionError:  # aliases of nested lists within each other: deeper than Python builds
        raise SourceError(NESTED) from None


def nested_deeper(data: Any, limit: int = MAX_NESTING) -> bool:
    """Whether parsed data has lists and mappings more than `limit` deep (walked with a
    stack of its own: the data may be deeper than Python's recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def refuse_deep_nesting(text: str) -> None:
    """SourceError, at its line, for text (YAML, or JSON read as YAML) whose lists and
    mappings nest more than MAX_NESTING deep: composing it would overflow the C stack
    and kill the process. Read from the parser's events, which keep their own stack."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        kind = type(event)
        if kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
            depth += 1
            if depth > MAX_NESTING:
                line = event.start_mark.line + 1
                raise SourceError(NESTED, line=line)
        elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
            depth -= 1


def _expanded_size(root) -> int:
    """How many nodes the document would have with every alias written out (each node of
    the composed graph counted once per path to it), stopping past the limit."""
    sizes: dict = {}
    open_nodes: set = set()  # on the current path: meeting one again is a recursive alias
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if not children_done:
            if id(node) in open_nodes:
                raise SourceError("a YAML alias refers to itself; refusing to expand it")
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        open_nodes.discard(id(node))
        sizes[id(node)] = min(MAX_EXPANDED_NODES + 1, 1 + sum(sizes[id(child)] for child in children))
    return sizes[id(root)]


def _count_aliases(text: str) -> int:
    count = 0
    for token in yaml.scan(text, Loader=_Loader):
        if isinstance(token, yaml.AliasToken):
            count += 1
            if count > MAX_ALIASES:
                break
    return count


def line_finder(raw: bytes) -> Callable[[tuple], int | None]:
    """A function from a field's path, e.g. ("coupons", 3, "window"), to its 1-based line."""
    try:
        text = raw.decode("utf-8")
        refuse_deep_nesting(text)  # JSON too: orjson reads any depth, YAML's composer does not
        root = yaml.compose(text, Loader=_Loader)
    except (yaml.YAMLError, UnicodeDecodeError, SourceError, RecursionError):
        return lambda path: None

    def find(path: tuple) -> int | None:
        node, line = root, None
        for part in path:
            if node is None:
                break
            line = node.start_mark.line + 1
            node = _child(node, part)
            if node is not None:
                line = node.start_mark.line + 1
        return line

    return find


def repeated_keys(raw: bytes, path: tuple, data: Any = None) -> list[tuple[str, int | None, int | None]]:
    """The keys written twice in the mapping at `path` (the parsers keep the last one, so
    the first would be lost without a word): (key, its line, the line of its first); the
    lines are None in JSON text. The text is read again only when some key of that
    mapping is written more than once anywhere in it."""
    data = parse(raw) if data is None else data
    want = data
    for part in path:
        want = want.get(part) if isinstance(want, dict) else None
    if not isinstance(want, dict) or not _written_twice(raw, want):
        return []
    if looks_like_json(raw):
        return _repeated_json_keys(raw, path, want)
    try:
        text = raw.decode("utf-8")
        refuse_deep_nesting(text)
        node = yaml.compose(text, Loader=_Loader)
    except (yaml.YAMLError, UnicodeDecodeError, SourceError, RecursionError):
        return []
    for part in path:
        node = _child(node, part) if node is not None else None
    if not isinstance(node, yaml.MappingNode):
        return []
    first: dict = {}
    out = []
    for key, _ in node.value:
        line = key.start_mark.line + 1
        if key.value in first:
            out.append((key.value, line, first[key.value]))
        else:
            first[key.value] = line
    return out


class _Pairs(dict):
    repeated: list


def _keep_repeats(pairs: list) -> _Pairs:
    out = _Pairs()
    out.repeated = []
    for key, value in pairs:
        if key in out:
            out.repeated.append(key)
        out[key] = value
    return out


def _written_twice(raw: bytes, mapping: dict) -> bool:
    """Could some key of `mapping` be written as a key more than once in the text? Counts
    `key:`, `"key":`, `'key':` (and with a space before the colon); a key written once
    cannot repeat, and counting bytes costs little even in a large table."""
    for key in mapping:
        word = str(key).encode("utf-8")
        if raw.count(word) < 2:
            continue
        written = sum(raw.count(word + end) for end in (b":", b'":', b"':", b" :", b'" :', b"' :"))
        if written > 1:
            return True
    return False


def _repeated_json_keys(raw: bytes, path: tuple, want: dict) -> list[tuple[str, int | None, int | None]]:
    """In JSON, only the object at `path` is read again (a table may be megabytes): each
    `"<last part>": {` in the text is decoded on its own until one equals the parsed one."""
    text = raw.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder(object_pairs_hook=_keep_repeats)
    key = re.compile('"' + re.escape(str(path[-1])) + r'"\s*:\s*(?=\{)')
    for match in key.finditer(text):
        try:
            node, _ = decoder.raw_decode(text, match.end())
        except ValueError:
            continue
        if node == want:
            return [(kind, None, None) for kind in _all_repeats(node)]
    return []


def _all_repeats(node: Any) -> list:
    return list(node.repeated) if isinstance(node, _Pairs) else []


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            return node.value[part]
    return None
