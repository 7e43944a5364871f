"""Progress toward the next tier (engine.progression.decide_progress): what the target tier's
spend and growth criteria still ask after this cart's payable, and each of its tasks."""
from libc.stdint cimport int64_t

from ext.structs cimport Request, Result, Table


cdef inline int64_t _left(int64_t value) noexcept nogil:
    return value if value > 0 else 0


cdef void tier_progress(const Table* t, const Request* r, Result* out) noexcept nogil:
    """Reads the payable total; writes the g_* fields (all empty without progression)."""
    cdef int64_t rank, k, start, task
    out.g_tier = 0
    out.g_spend = -1
    out.g_growth = -1
    out.g_n_tasks = 0
    if not t.has_progression:
        return
    rank = t.progress_target[r.tier]
    out.g_tier = rank
    if rank == 0:
        return
    if t.tier_spend[rank] >= 0:
        out.g_spend = _left(t.tier_spend[rank] - r.spend_12m - out.payable)
    if t.tier_growth[rank] >= 0:
        out.g_growth = _left(t.tier_growth[rank] - r.growth - out.payable // 100 * t.growth_per_yuan)
    start = t.tier_task_ptr[rank]
    for k in range(start, t.tier_task_ptr[rank + 1]):
        task = t.tier_task[k]
        out.g_task_left[k - start] = _left(t.task_target[task] - r.task_progress[task])
    out.g_n_tasks = t.tier_task_ptr[rank + 1] - start
