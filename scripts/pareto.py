"""The front of fixed settings on a privacy/utility plane, shared by the scripts that place rows
against it (report_table.py, strong_attack_front.py, place_front.py, place_inversion.py)."""


def front(points):
    """Pareto front of (accuracy up, leak down), sorted by accuracy."""
    best = [p for p in points
            if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)]
    return sorted(set(best))


def front_leak_at(curve, acc):
    """The front's leak at this accuracy: linear between its neighbours; below the front's least
    accurate point, that point's leak (it is more accurate and leaks no more); above its most
    accurate point, None (nothing fixed reaches that accuracy)."""
    if not curve or acc > curve[-1][0]:
        return None
    if acc <= curve[0][0]:
        return curve[0][1]
    for (a0, l0), (a1, l1) in zip(curve, curve[1:]):
        if a0 <= acc <= a1:
            return l0 + (l1 - l0) * (acc - a0) / max(a1 - a0, 1e-9)
    return None


def percentile(values, q):
    """The q-quantile of a sample (the value at rank q * n of the sorted values)."""
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]
