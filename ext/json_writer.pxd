# The byte buffer the compiled quote writes its JSON into; the writing methods are inline
# here so that Quote.to_json keeps them in place; each returns 0, or -1 with an exception set
# (cheaper to test than Cython's `except *` on a void, which asks PyErr_Occurred every call).
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport realloc
from libc.string cimport memcpy, strlen


@cython.final
cdef class Writer:
    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t cap

    cdef inline int reserve(self, Py_ssize_t extra) except -1:
        cdef char* grown
        if self.size + extra <= self.cap:
            return 0
        while self.size + extra > self.cap:
            self.cap *= 2
        grown = <char*>realloc(self.data, self.cap)
        if grown == NULL:
            raise MemoryError()
        self.data = grown
        return 0

    cdef inline int put(self, const char* piece, Py_ssize_t length) except -1:
        self.reserve(length)
        memcpy(self.data + self.size, piece, length)
        self.size += length
        return 0

    cdef inline int text(self, const char* piece) except -1:
        return self.put(piece, strlen(piece))

    cdef inline int bytes(self, object piece) except -1:
        return self.put(PyBytes_AS_STRING(piece), PyBytes_GET_SIZE(piece))

    cdef inline int integer(self, int64_t value) except -1:
        # digits written by hand: snprintf's format parsing cost more than the rest of the JSON
        cdef char digits[20]
        cdef int n = 0
        cdef uint64_t left = <uint64_t>value if value >= 0 else <uint64_t>(-(value + 1)) + 1
        self.reserve(21)
        while True:
            digits[n] = <char>(48 + left % 10)
            n += 1
            left //= 10
            if left == 0:
                break
        if value < 0:
            self.data[self.size] = 45  # '-'
            self.size += 1
        while n:
            n -= 1
            self.data[self.size] = digits[n]
            self.size += 1
        return 0

    cdef object result(self)
