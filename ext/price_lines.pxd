from ext.structs cimport Request, Result, Table


cdef void price_lines(const Table* t, const Request* r, Result* out) noexcept nogil
