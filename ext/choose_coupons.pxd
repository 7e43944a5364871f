from ext.structs cimport Request, Result, Table


cdef int choose_coupons(const Table* t, const Request* r, Result* out) noexcept nogil
