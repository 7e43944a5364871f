"""A growing byte buffer for Quote.to_json: pieces are copied in, numbers printed in place.
The writing methods are inline in json_writer.pxd; this module owns the memory."""
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport free, malloc


@cython.final
cdef class Writer:
    """The JSON written so far, in a buffer that doubles when full."""

    def __cinit__(self):
        self.cap = 8192  # an eligibility answer is 4-5 KB
        self.size = 0
        self.data = <char*>malloc(self.cap)
        if self.data == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.data)

    cdef object result(self):
        return PyBytes_FromStringAndSize(self.data, self.size)
