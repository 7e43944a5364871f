# Reason codes and layers: mirrors engine/codes.py (checked by tests/test_layout.py).

cdef enum:
    OK = 0
    UNKNOWN_SKU = 1
    TIER_TOO_LOW = 2
    MEMBERS_ONLY_ROOM = 3
    MEMBER_LIMIT_REACHED = 4
    NOT_IN_ROOM = 5
    OUTSIDE_WINDOW = 6
    THRESHOLD_NOT_MET = 7
    NOT_IN_SCOPE = 8
    OUT_OF_STOCK = 9
    LOST_TO_BETTER_COMBINATION = 10
    NO_SAVING = 11
    TASK_LOCKED = 12
    INSUFFICIENT_POINTS = 13
    TIER_NOT_ELIGIBLE = 14
    POINTS_DEBT = 15

cdef enum:
    LAYER_NONE = 0
    LAYER_BASE = 1
    LAYER_TIER = 2
    LAYER_LIVE = 3
    LAYER_PICKUP = 4

cdef enum:
    KIND_FIXED_PRICE = 0
    KIND_PERCENT_OFF = 1
    KIND_AMOUNT_OFF = 2
    KIND_THRESHOLD_OFF = 3

cdef enum:
    SEARCH_BUDGET = 65536
