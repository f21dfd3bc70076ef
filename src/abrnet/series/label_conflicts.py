"""Per-ear labels that disagree within one ear, said in one line: by `abrnet evaluate` where it scores them and by
`abrnet data import` where it stores them (hunt 50e #2: an ear saying NORMAL on one row and SNHL on the others was
imported without a word).

Why here, beside `per_ear.ear_truth` (which picks the value each ear is scored against) and not in the evaluation:
`data import` says it too, and should not load the evaluation stack to do so.
"""

from __future__ import annotations

from abrnet.data.schema import ABRCohort
from abrnet.series.per_ear import ear_truth


def label_conflict_warnings(data: ABRCohort, source: str) -> list[str]:
    """One line naming `source`, each per-ear label field and how many ears whose records carry two different values
    of it (`ear_truth`'s conflicts); nothing when every ear agrees with itself.

    Why: the schema repeats an ear's threshold_db, class and no_response on each of its records, and a hand-edited
    sheet can disagree with itself; the ear is then scored against the one value `ear_truth` picks (for the network
    and the baselines alike), which the user should know is not the other one."""
    conflicts = {name: n for name, n in ear_truth(data).conflicts.items() if n}
    if not conflicts:
        return []
    fields = ", ".join(f"{name} on {n} ear{'s' * (n != 1)}" for name, n in conflicts.items())
    return [
        f"{source}: records of one ear carry different per-ear labels ({fields}); evaluate scores each ear against its "
        "first record with a threshold_db / class, and as a no-response where any record says so (network and "
        "baselines)"
    ]
