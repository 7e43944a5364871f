from libc.stdint cimport int64_t

from ext.structs cimport Request, Result, Table


cdef int64_t decided_items(const Table* t, int64_t room) noexcept nogil
cdef void check_redemptions(const Table* t, const Request* r, Result* out) noexcept nogil
cdef void spread(const Table* t, int64_t tier, int64_t tags, int64_t room, const int64_t* decided_status,
                 const int64_t* decided_hint, int64_t* red_status, int64_t* red_hint) noexcept nogil
