"""Resident memory of processes from /proc, and what a series of samples says.

``sample(pids)`` reads each process's VmRSS; ``analyse(series, ...)`` turns samples
taken every few seconds into the figures of issue #18's P5: the RSS at given
moments, and the growth over the last minutes as the least-squares slope of the
samples there (one sample's noise moves a slope over 60 samples little; the first
minus the last sample would be at the mercy of two samples).
"""
import math

MB = 1024 * 1024  # RSS figures are in MiB, "MB" in the sense


def rss_mb(pid):
    """The process's resident set size in MB, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / MB  # the kernel says kB
    except (OSError, ValueError, IndexError):
        return None
    return None  # a zombie has no VmRSS line


def sample(pids):
    """``{label: MB}`` of every process of ``{label: pid}`` still alive."""
    return {label: value for label, value in ((label, rss_mb(pid)) for label, pid in pids.items())
            if value is not None}


def value_at(points, t):
    """The sample of ``points`` (``[(seconds, MB)]``, in time order) nearest to ``t``."""
    if not points:
        return None
    return min(points, key=lambda p: abs(p[0] - t))[1]


def slope(points):
    """Least-squares slope of ``[(seconds, MB)]`` in MB per minute, and the residuals'
    standard deviation in MB (how noisy the samples are around that line):
    ``(slope, noise)``; ``(None, None)`` for fewer than two distinct times."""
    n = len(points)
    if n < 2:
        return None, None
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var_t = sum((t - mean_t) ** 2 for t, _ in points)
    if var_t == 0:
        return None, None
    per_second = sum((t - mean_t) * (v - mean_v) for t, v in points) / var_t
    residuals = [v - (mean_v + per_second * (t - mean_t)) for t, v in points]
    noise = math.sqrt(sum(r * r for r in residuals) / n)
    return per_second * 60, noise


def analyse(series, at=(300, 600), last=300, limit_mb=150.0, growth_limit_mb=1.0):
    """Per process of ``series`` (``[(seconds since the load started, {label: MB})]``):
    its RSS at each of ``at`` seconds, its peak, its slope over the last ``last``
    seconds of samples and what that slope grows in those seconds, with two verdicts:
    ``within_limit`` (the last sample and the peak <= ``limit_mb``) and ``no_growth``
    (the fitted growth over the last ``last`` seconds below ``growth_limit_mb``)."""
    labels = []
    for _, values in series:
        labels.extend(label for label in values if label not in labels)
    end = max((t for t, _ in series), default=0)
    report = {}
    for label in labels:
        points = [(t, values[label]) for t, values in series if label in values]
        tail = [(t, v) for t, v in points if t >= end - last]
        per_minute, noise = slope(tail)
        growth = None if per_minute is None else per_minute * last / 60
        final = points[-1][1] if points else None
        peak = max((v for _, v in points), default=None)
        report[label] = {
            "samples": len(points),
            "at": {str(t): value_at(points, t) for t in at},
            "final_mb": final,
            "peak_mb": peak,
            "slope_mb_per_min": per_minute,
            "growth_last_mb": growth,
            "noise_mb": noise,
            "within_limit": None if peak is None else peak <= limit_mb,
            "no_growth": None if growth is None else growth < growth_limit_mb,
        }
    return report
