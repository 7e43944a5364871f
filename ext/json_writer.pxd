# The byte buffer the compiled quote writes its JSON into; the writing methods are inline
# here so that Quote.to_json keeps them in place.
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int64_t
from libc.stdio cimport snprintf
from libc.stdlib cimport realloc
from libc.string cimport memcpy, strlen


@cython.final
cdef class Writer:
    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t cap

    cdef inline void reserve(self, Py_ssize_t extra) except *:
        cdef char* grown
        if self.size + extra <= self.cap:
            return
        while self.size + extra > self.cap:
            self.cap *= 2
        grown = <char*>realloc(self.data, self.cap)
        if grown == NULL:
            raise MemoryError()
        self.data = grown

    cdef inline void put(self, const char* piece, Py_ssize_t length) except *:
        self.reserve(length)
        memcpy(self.data + self.size, piece, length)
        self.size += length

    cdef inline void text(self, const char* piece) except *:
        self.put(piece, strlen(piece))

    cdef inline void bytes(self, object piece) except *:
        self.put(PyBytes_AS_STRING(piece), PyBytes_GET_SIZE(piece))

    cdef inline void integer(self, int64_t value) except *:
        self.reserve(24)
        self.size += snprintf(self.data + self.size, 24, "%lld", <long long>value)

    cdef object result(self)
