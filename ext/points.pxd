from ext.structs cimport Request, Result, Table


cdef void add_totals(const Request* r, Result* out) noexcept nogil
cdef void earn_points(const Table* t, const Request* r, Result* out) noexcept nogil
