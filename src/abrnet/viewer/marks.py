"""What a reviewer's correction of one target (a wave's peak, an ear's threshold) shows, and the check that a new one
was made on what is stored now.

Besides a number, a reviewer must be able to say "none": a wave the model filled in is noise (``absent``), or an
ear does not respond (``no response``). Both are marks without a value, kept in the same append-only audit trail
(`Store`, column ``mark``); a correction with neither value nor mark reverts to the model.

Two tabs or reviewers may correct one target: the later write would silently replace the earlier one, whose author
is never told. So the page sends what it showed for the target (`shown`: None for the model's value, the corrected
number, or the mark) and the store refuses the correction (`StaleMarkError`, the app's 409) when the correction in
force differs from that.
"""

from __future__ import annotations

import math
from typing import Any

ABSENT = "absent"  # a peak: the wave is not there (the model's latency marks noise)
NO_RESPONSE = "no response"  # a threshold: the ear responds at no tested level
MARKS: dict[str, str] = {"peak": ABSENT, "threshold": NO_RESPONSE}  # the mark each target may take
UNCHECKED = object()  # `Store.add_correction`'s `expected` when the sender did not say what it showed


class StaleMarkError(Exception):
    """A correction made on a page that showed another value for its target than the one in force now (409)."""


def shown(value: float | None, mark: str | None) -> float | str | None:
    """What a page shows for a target whose latest correction has `value` and `mark` (None, None: the model's)."""
    return mark if mark is not None else value


def same(a: object, b: object) -> bool:
    """Whether two `shown` states are the same (numbers within rounding: the page sends what JSON gave it)."""
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool | str):
        return math.isclose(float(a), float(b), abs_tol=1e-6)
    return a == b


def state_text(state: object, target: str) -> str:
    """A `shown` state in words: "the model's value", "6.20 ms", "65 dB", "absent", "no response"."""
    if state is None:
        return "the model's value"
    if isinstance(state, str):
        return state
    return f"{float(state):.2f} ms" if target == "peak" else f"{float(state):g} dB"  # type: ignore[arg-type]


def target_text(c: Any) -> str:
    """A correction's target for messages: "wave V of record 3 (patient P, ear R)" or "the threshold of ear P/R"."""
    if c.target == "peak":
        return f"wave {c.wave} of record {c.record} (patient {c.patient_id}, ear {c.ear})"
    series = f", {c.stimulus}" if getattr(c, "stimulus", "") else ""  # the series of an ear with several stimuli
    return f"the threshold of ear {c.patient_id}/{c.ear}{series}"


def check_expected(c: Any, latest: tuple[Any, ...] | None, expected: object) -> None:
    """Raise `StaleMarkError` when `latest` (the target's newest stored row: value, mark, user, created_at; None when
    never corrected) shows otherwise than `expected`, what the sender's page showed."""
    now = None if latest is None else shown(latest[0], latest[1])
    if same(now, expected):
        return
    seen = state_text(expected, c.target)
    if latest is None:  # never corrected: the sender claims to have seen a correction that was never stored
        raise StaleMarkError(f"not saved: {target_text(c)} shows the model's value, your page showed {seen}: reload "
                             "the file and correct again")  # fmt: skip
    raise StaleMarkError(
        f"not saved: {target_text(c)} was changed by {latest[2]} at {latest[3]} (to {state_text(now, c.target)}) "
        f"since your page loaded (it showed {seen}): reload the file, check their correction and correct again"
    )
