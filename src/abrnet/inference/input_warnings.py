"""The warnings about what an input's records are, one list for every way records reach the model.

`inputs.read_for_model` (a file) and `api._as_cohort` (a cohort built in Python: `ABRCohort.from_signals`,
`read_recording`, a cohort saved earlier) both call `input_warnings`. Why one function: the cohort path once
assessed the domain but warned about nothing, so a README example with ``age_years=30`` or traces in volts gave
``report.warnings == []`` where the same data as a wide CSV gave the adult or out-of-domain line, with identical
numbers (hunt A #2); two lists of calls had drifted apart.

What stays with the file read (`read_for_model`): the lines about how a file was read, namely options ignored or
overriding the file's values (`option_warnings`), a grid or a sampling rate the reader assumed, and the check that
a CSV's rows fit the model. They judge a reading call and name the reading options that fix it, and a cohort
reaches `predict` with no reading options (`arguments.check_input` refuses them): its rate and t0 are its own.
"""

from __future__ import annotations

import numpy as np

from abrnet.data.schema import ABRCohort, ears_assumed
from abrnet.inference.domain import domain_warnings, sparse_age_warnings


def input_warnings(cohort: ABRCohort, source: str) -> list[str]:
    """What the records are, each as a line naming ``source``: what the input did not record (`reading_warnings`),
    the records out of the model's domain (`domain_warnings` of ``extras["domain"]``, which the caller assessed on
    the native grid, `assess_domain`) and adult ages the model saw little of (`sparse_age_warnings`)."""
    domain = cohort.extras["domain"]
    return reading_warnings(cohort, source) + domain_warnings(domain, source) + sparse_age_warnings(cohort, source)


def reading_warnings(cohort: ABRCohort, src: str) -> list[str]:
    """One line each for what the file did not record and the results will not show: FMP (all or some records) and
    the ear (a reader's assumed "R").

    Why: the results table prints ear ``R`` for a file that names no ear exactly as for a recorded right ear, and a
    file whose split buffers give no FMP was told it had "no split buffers" (the wide CSV reads FMP from the buffers
    for every row without a stated one, so "missing" beside buffers means the buffers could not give one)."""
    out: list[str] = []
    n = cohort.n_records
    no_fmp = int((~np.isfinite(cohort.static_column("fmp"))).sum())
    if cohort.attrs.get("fmp_source") == "missing" and cohort.buffers is not None:
        out.append(
            f"{src}: no FMP in the file and its split buffers give none (e.g. identical A and B sub-averages); "
            "FMP is treated as missing (pass --fmp)"
        )
    elif cohort.attrs.get("fmp_source") == "missing":
        out.append(f"{src}: no FMP and no split buffers in the file; FMP is treated as missing (pass --fmp)")
    elif no_fmp:
        out.append(f"{src}: {no_fmp} of {n} records have no FMP; it is treated as missing on those (pass --fmp)")
    assumed = int(ears_assumed(cohort).sum())
    if assumed:
        out.append(f"{src}: {assumed} of {n} records name no ear; they are reported as ear R (pass --ear)")
    return out
