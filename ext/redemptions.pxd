from ext.structs cimport Request, Result, Table


cdef void check_redemptions(const Table* t, const Request* r, Result* out) noexcept nogil
