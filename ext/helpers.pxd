# Small helpers every stage uses, inline so that each stage's loops keep them in place:
# integer arithmetic that stays exact, and the checks lines, coupons and redemptions share.
from libc.stdint cimport int64_t

cdef extern from *:
    """
    /* a * b / c and a * b % c for non-negative a, b and positive c, exact: in 64 bits
       when the product fits (nearly always), in 128 bits otherwise. */
    static inline long long rights_muldiv(long long a, long long b, long long c) {
        if (a < 3037000499LL && b < 3037000499LL) return (a * b) / c;
        return (long long)(((__int128)a * b) / c);
    }
    /* a * b = q * c + r (0 <= r < c) for non-negative a, b and positive c, exact, without
       a hardware division in the usual case: q is estimated through `inverse` (1.0 / c),
       which is off by q * 2**-51 + 1 at most (so by one or two when b <= c, as in the
       allocation), and then corrected in integers; the correction keeps it exact anyway. */
    static inline long long rights_muldivmod(long long a, long long b, long long c, double inverse,
                                             long long* remainder) {
        long long q, r;
        if (a < 2147483648LL && b < 2147483648LL && c < 1152921504606846976LL) {
            long long p = a * b;
            q = (long long)((double)p * inverse);
            r = p - q * c;
            while (r < 0) { q -= 1; r += c; }
            while (r >= c) { q += 1; r -= c; }
        } else {
            __int128 p = (__int128)a * b;
            q = (long long)(p / c);
            r = (long long)(p - (__int128)q * c);
        }
        *remainder = r;
        return q;
    }
    """
    long long muldiv "rights_muldiv"(long long a, long long b, long long c) nogil
    long long muldivmod "rights_muldivmod"(long long a, long long b, long long c, double inverse,
                                           long long* remainder) nogil


cdef inline int64_t _lowest_tier_above(int64_t mask, int64_t tier, int64_t n_tiers) noexcept nogil:
    cdef int64_t rank
    for rank in range(tier + 1, n_tiers):
        if (mask >> rank) & 1:
            return rank
    return 0


cdef inline bint _in_segment(int64_t any_of, int64_t all_of, int64_t none_of, int64_t tags) noexcept nogil:
    """Whether a member's tag mask is in a segment's masks ((0, 0, 0): everyone)."""
    return (any_of == 0 or (tags & any_of) != 0) and (tags & all_of) == all_of and (tags & none_of) == 0


cdef inline int64_t _percent_half_up(int64_t amount, int64_t percent) noexcept nogil:
    return (amount * percent + 50) // 100


cdef inline bint _window_open(int64_t start, int64_t end, int64_t now) noexcept nogil:
    return start <= now and now < end


cdef inline int64_t _lookup(const int64_t* pairs, int64_t n, int64_t key, int64_t missing) noexcept nogil:
    cdef int64_t k
    for k in range(n):
        if pairs[2 * k] == key:
            return pairs[2 * k + 1]
    return missing
