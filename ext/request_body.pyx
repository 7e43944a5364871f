# cython: language_level=3
"""The eligibility request's body read in C when it is plain, for POST /v1/eligibility.

Plain: one JSON object of the documented fields, each at most once; its strings printable
ASCII without escapes; `lines` objects of exactly `sku` and `qty`, each quantity written as
digits; no `location` (or null); and every value passing the route's checks. Such a body is
read without the GIL and without building the JSON's dicts, into what the route's own
reader gives (api/checkout/request.py `parse_request`, the reference). Anything else
(escapes, other characters, numbers of another form, an unknown field, a refusal) is not
read here: `read` returns None and the route reads the body the long way, which answers
every refusal itself. A differential test holds the two readers together.

The character classes are the route's (api/store.py MEMBER_ID and IDENTITY_VALUE,
api/brands.py BRAND_ID); a test checks them against those patterns.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int64_t
from libc.string cimport memcmp

from ext.limits cimport MAX_LINES, MAX_QTY

cdef extern from "Python.h":
    object PyUnicode_FromStringAndSize(const char* u, Py_ssize_t size)

cdef enum:
    MAX_TEXT = 64  # the longest room and SKU (member ids too; identity values go to 128, brands to 32)
    F_MEMBER = 1
    F_IDENTITY = 2
    F_ROOM = 4
    F_LINES = 8
    F_FULFILMENT = 16
    F_LOCATION = 32
    F_BRAND = 64


cdef struct Text:
    Py_ssize_t start
    Py_ssize_t length  # -1: absent or null


cdef struct Plain:
    Text member_id
    Text channel
    Text value
    Text room
    Text brand
    int pickup
    Py_ssize_t n_lines
    Text skus[MAX_LINES]
    int64_t qty[MAX_LINES]


cdef inline Py_ssize_t _space(const char* s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    while i < n and (s[i] == 32 or s[i] == 9 or s[i] == 10 or s[i] == 13):
        i += 1
    return i


cdef inline Py_ssize_t _string(const char* s, Py_ssize_t n, Py_ssize_t i, Text* out) noexcept nogil:
    """The string at `i` (printable ASCII, no escape) into `out`; the index after it, or -1."""
    cdef Py_ssize_t j
    if i >= n or s[i] != 34:  # '"'
        return -1
    j = i + 1
    while j < n and s[j] != 34:
        if s[j] < 32 or s[j] > 126 or s[j] == 92:  # a control character, not ASCII, '\'
            return -1
        j += 1
    if j >= n:
        return -1
    out.start = i + 1
    out.length = j - i - 1
    return j + 1


cdef inline Py_ssize_t _null(const char* s, Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """The index after a `null` at `i`, or -1."""
    if i + 4 <= n and memcmp(s + i, b"null", 4) == 0:
        return i + 4
    return -1


cdef inline Py_ssize_t _text_or_null(const char* s, Py_ssize_t n, Py_ssize_t i, Text* out) noexcept nogil:
    if i < n and s[i] == 110:  # 'n'
        out.length = -1
        return _null(s, n, i)
    return _string(s, n, i, out)


cdef inline bint _is(const char* s, Text key, const char* name, Py_ssize_t length) noexcept nogil:
    return key.length == length and memcmp(s + key.start, name, length) == 0


cdef inline bint _alnum(char c) noexcept nogil:
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)


cdef bint _member_id(const char* s, Text t) noexcept nogil:
    """MEMBER_ID: a letter or digit, then letters, digits and _ . : -, 1 to 64 in all."""
    cdef Py_ssize_t k
    cdef char c
    if t.length < 1 or t.length > 64 or not _alnum(s[t.start]):
        return False
    for k in range(t.start + 1, t.start + t.length):
        c = s[k]
        if not (_alnum(c) or c == 95 or c == 46 or c == 58 or c == 45):
            return False
    return True


cdef bint _identity_value(const char* s, Text t) noexcept nogil:
    """IDENTITY_VALUE: 1 to 128 letters, digits or + _ . : @ -."""
    cdef Py_ssize_t k
    cdef char c
    if t.length < 1 or t.length > 128:
        return False
    for k in range(t.start, t.start + t.length):
        c = s[k]
        if not (_alnum(c) or c == 43 or c == 95 or c == 46 or c == 58 or c == 64 or c == 45):
            return False
    return True


cdef bint _brand_id(const char* s, Text t) noexcept nogil:
    """BRAND_ID: a lower-case letter or digit, then those or -, 1 to 32 in all."""
    cdef Py_ssize_t k
    cdef char c
    if t.length < 1 or t.length > 32:
        return False
    for k in range(t.start, t.start + t.length):
        c = s[k]
        if not ((48 <= c <= 57) or (97 <= c <= 122) or (c == 45 and k > t.start)):
            return False
    return True


cdef Py_ssize_t _identity(const char* s, Py_ssize_t n, Py_ssize_t i, Plain* out) noexcept nogil:
    """{"channel": text, "value": text} at `i`, each once; the index after it, or -1."""
    cdef Text key
    cdef int seen = 0
    if i >= n or s[i] != 123:  # '{'
        return -1
    i = _space(s, n, i + 1)
    while True:
        i = _string(s, n, i, &key)
        if i < 0:
            return -1
        i = _space(s, n, i)
        if i >= n or s[i] != 58:  # ':'
            return -1
        i = _space(s, n, i + 1)
        if _is(s, key, b"channel", 7) and not seen & 1:
            i = _string(s, n, i, &out.channel)
            seen |= 1
        elif _is(s, key, b"value", 5) and not seen & 2:
            i = _string(s, n, i, &out.value)
            seen |= 2
        else:
            return -1
        if i < 0:
            return -1
        i = _space(s, n, i)
        if i < n and s[i] == 44:  # ','
            i = _space(s, n, i + 1)
        elif i < n and s[i] == 125 and seen == 3:  # '}'
            return i + 1
        else:
            return -1


cdef Py_ssize_t _quantity(const char* s, Py_ssize_t n, Py_ssize_t i, int64_t* out) noexcept nogil:
    """A quantity from 1 to MAX_QTY written as plain digits; the index after it, or -1."""
    cdef int64_t value = 0
    cdef Py_ssize_t start = i
    if i >= n or not 49 <= s[i] <= 57:  # no leading zero, no sign
        return -1
    while i < n and 48 <= s[i] <= 57:
        value = value * 10 + (s[i] - 48)
        i += 1
        if i - start > 9:
            return -1
    if i < n and (s[i] == 46 or s[i] == 101 or s[i] == 69):  # '.', 'e', 'E': a float
        return -1
    if value > MAX_QTY:
        return -1
    out[0] = value
    return i


cdef Py_ssize_t _lines(const char* s, Py_ssize_t n, Py_ssize_t i, Plain* out) noexcept nogil:
    """[{"sku": text, "qty": digits}, ...] at `i`; the index after it, or -1."""
    cdef Text key
    cdef int seen
    cdef Py_ssize_t k = 0
    if i >= n or s[i] != 91:  # '['
        return -1
    i = _space(s, n, i + 1)
    if i < n and s[i] == 93:  # ']'
        out.n_lines = 0
        return i + 1
    while True:
        if k >= MAX_LINES or i >= n or s[i] != 123:
            return -1
        i = _space(s, n, i + 1)
        seen = 0
        while True:
            i = _string(s, n, i, &key)
            if i < 0:
                return -1
            i = _space(s, n, i)
            if i >= n or s[i] != 58:
                return -1
            i = _space(s, n, i + 1)
            if _is(s, key, b"sku", 3) and not seen & 1:
                i = _string(s, n, i, &out.skus[k])
                if i < 0 or out.skus[k].length < 1 or out.skus[k].length > MAX_TEXT:
                    return -1
                seen |= 1
            elif _is(s, key, b"qty", 3) and not seen & 2:
                i = _quantity(s, n, i, &out.qty[k])
                if i < 0:
                    return -1
                seen |= 2
            else:
                return -1
            i = _space(s, n, i)
            if i < n and s[i] == 44:
                i = _space(s, n, i + 1)
            elif i < n and s[i] == 125 and seen == 3:
                i += 1
                break
            else:
                return -1
        k += 1
        i = _space(s, n, i)
        if i < n and s[i] == 44:
            i = _space(s, n, i + 1)
        elif i < n and s[i] == 93:
            out.n_lines = k
            return i + 1
        else:
            return -1


cdef int _plain(const char* s, Py_ssize_t n, Plain* out) noexcept nogil:
    """Read a plain body into `out`: 0, or -1 when it is not plain (or not valid)."""
    cdef Text key, fulfilment
    cdef int seen = 0, field
    cdef Py_ssize_t i
    out.member_id.start = out.channel.start = out.value.start = out.room.start = out.brand.start = 0
    out.member_id.length = out.channel.length = out.value.length = out.room.length = out.brand.length = -1
    out.pickup = 0
    out.n_lines = 0
    i = _space(s, n, 0)
    if i >= n or s[i] != 123:
        return -1
    i = _space(s, n, i + 1)
    while True:
        i = _string(s, n, i, &key)
        if i < 0:
            return -1
        i = _space(s, n, i)
        if i >= n or s[i] != 58:
            return -1
        i = _space(s, n, i + 1)
        if _is(s, key, b"lines", 5):
            field = F_LINES
            i = _lines(s, n, i, out)
        elif _is(s, key, b"member_id", 9):
            field = F_MEMBER
            i = _text_or_null(s, n, i, &out.member_id)
            if i >= 0 and out.member_id.length >= 0 and not _member_id(s, out.member_id):
                return -1
        elif _is(s, key, b"identity", 8):
            field = F_IDENTITY
            if i < n and s[i] == 110:
                i = _null(s, n, i)
            else:
                i = _identity(s, n, i, out)
                if i >= 0 and not _identity_value(s, out.value):
                    return -1
        elif _is(s, key, b"room", 4):
            field = F_ROOM
            i = _text_or_null(s, n, i, &out.room)
            if i >= 0 and (out.room.length == 0 or out.room.length > MAX_TEXT):
                return -1
        elif _is(s, key, b"fulfillment", 11):
            field = F_FULFILMENT
            i = _string(s, n, i, &fulfilment)
            if i >= 0:
                if _is(s, fulfilment, b"pickup", 6):
                    out.pickup = 1
                elif not _is(s, fulfilment, b"delivery", 8):
                    return -1
        elif _is(s, key, b"location", 8):
            field = F_LOCATION
            i = _null(s, n, i)
        elif _is(s, key, b"brand", 5):
            field = F_BRAND
            i = _text_or_null(s, n, i, &out.brand)
            if i >= 0 and out.brand.length >= 0 and not _brand_id(s, out.brand):
                return -1
        else:
            return -1
        if i < 0 or seen & field:
            return -1
        seen |= field
        i = _space(s, n, i)
        if i < n and s[i] == 44:
            i = _space(s, n, i + 1)
        elif i < n and s[i] == 125:
            i += 1
            break
        else:
            return -1
    if _space(s, n, i) != n or not seen & F_LINES:
        return -1
    if out.member_id.length >= 0 and out.channel.length >= 0:  # both: refused by the long way
        return -1
    return 0


cdef inline object _str(const char* s, Text t):
    return PyUnicode_FromStringAndSize(s + t.start, t.length) if t.length >= 0 else None


def read(bytes body not None, frozenset channels):
    """(member_id, identity, room, lines, fulfillment, location, brand) of a plain body,
    as parse_request reads them, each identity's channel one of `channels`; None when
    the body is not plain (read it the long way)."""
    cdef Plain p
    cdef const char* s = PyBytes_AS_STRING(body)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(body), k
    cdef int rc
    with nogil:
        rc = _plain(s, n, &p)
    if rc != 0:
        return None
    identity = None
    if p.channel.length >= 0:
        channel = _str(s, p.channel)
        if channel not in channels:
            return None
        identity = (channel, _str(s, p.value))
    lines = [None] * p.n_lines
    for k in range(p.n_lines):
        lines[k] = (_str(s, p.skus[k]), p.qty[k])
    return (_str(s, p.member_id), identity, _str(s, p.room), lines, "pickup" if p.pickup else "delivery", None,
            _str(s, p.brand))
