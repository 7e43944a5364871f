from ext.structs cimport Request, Result, Table


cdef void tier_progress(const Table* t, const Request* r, Result* out) noexcept nogil
