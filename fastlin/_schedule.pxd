# The learning-rate schedules of both kernels, one definition (the NumPy
# reference's is ``fastlin._numeric.learning_rate``; the names are
# ``fastlin._numeric.SCHEDULES``):
#
#     "constant", "adaptive"   η_t = η₀   ("adaptive" moves η₀ between epochs,
#                                          in the estimator)
#     "invscaling"             η_t = η₀ / t^power_t
#     "optimal"                η_t = 1 / (α (t₀ + t − 1)),  t₀ = α^(−3/4)
#
# with t >= 1 the step count over the whole fit.
from libc.math cimport pow


cdef enum ScheduleKind:
    SCHEDULE_CONSTANT
    SCHEDULE_INVSCALING
    SCHEDULE_OPTIMAL


cdef inline int schedule_kind(str schedule, double alpha) except -1:
    # the kind of a schedule name; ValueError for an unknown name or for
    # "optimal" without a positive α
    if schedule == "constant" or schedule == "adaptive":
        return SCHEDULE_CONSTANT
    if schedule == "invscaling":
        return SCHEDULE_INVSCALING
    if schedule == "optimal":
        if not alpha > 0:
            raise ValueError(f'the "optimal" learning-rate schedule needs alpha > 0, got {alpha!r}')
        return SCHEDULE_OPTIMAL
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")


cdef inline double eta_t(int kind, double eta0, double power_t, double alpha,
                         Py_ssize_t t) noexcept nogil:
    # η_t of schedule ``kind`` at step t >= 1
    if kind == SCHEDULE_INVSCALING:
        return eta0 / pow(<double>t, power_t)
    if kind == SCHEDULE_OPTIMAL:
        return 1.0 / (alpha * (pow(alpha, -0.75) + <double>(t - 1)))
    return eta0


cdef inline double clipped_alpha(double alpha, double eta) noexcept nogil:
    # α′ = min(α, 1/η): the L2 part of a step, θ ← θ − η α′ θ = max(0, 1 − ηα) θ,
    # shrinks θ toward 0 and never past it (ηα > 2 would otherwise overshoot
    # and diverge); α itself whenever ηα <= 1
    if alpha * eta <= 1.0:
        return alpha
    return 1.0 / eta
