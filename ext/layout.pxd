# The C types of the compiled arrays: mirrors engine/layout.py (checked by tests/test_layout.py).
from libc.stdint cimport int32_t, int64_t

ctypedef int64_t value_t
ctypedef int32_t index_t
