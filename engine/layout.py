"""The dtypes and sentinels of the compiled arrays: the contract engine/ shares with ext/.

ext/layout.pxd declares the same types for Cython; tests/test_layout.py checks that every
array the compiler makes has one of these dtypes and is C-contiguous and read-only.
"""
import numpy as np

VALUE = np.int64  # money in fen, points, instants, percents, masks, limits
INDEX = np.int32  # rows and CSR offsets

NO_LIMIT = -1  # no member limit, no stock limit, no cap, no tier price
NO_ROOM = -1
TIME_MIN = -(2**62)  # a window with no start
TIME_MAX = 2**62  # a window with no end
