"""A cohort handed to the Python API gets the warnings the same records get from a file (hunt A #2).

Why: `predict(ABRCohort)` / `denoise(ABRCohort)` assessed the domain but warned about nothing, so the README's own
``from_signals(..., age_years=30)`` example, or traces in volts, gave ``report.warnings == []`` where the same data
as a wide CSV gave the adult or out-of-domain line, with identical numbers. Both paths now call
`input_warnings.input_warnings`; only the lines about how a file was read stay with the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from abrnet.data.csv_io import write_wide_csv
from abrnet.data.importers import read_recording
from abrnet.data.schema import ABRCohort
from abrnet.inference.api import _as_cohort
from abrnet.inference.inputs import read_for_model
from tests.conftest import make_toy_cohort

N_SAMPLES = 200


def _in_python(scale: float = 1.0, age_years: float = 30.0) -> ABRCohort:
    """One ear's series built from arrays, as the README's "From Python" example builds it (no FMP)."""
    toy = make_toy_cohort(n_patients=1)
    rows = toy.ear_key.astype(str) == "P000/L"
    return ABRCohort.from_signals(
        toy.signals[rows] * scale, age_years=age_years, intensity_db=toy.static_column("intensity_db")[rows],
        stimulus_rate_hz=33.1, patient_id="P1", ear="L",
    )  # fmt: skip


def _without_source(lines: list[str], source: str) -> list[str]:
    assert all(w.startswith(f"{source}: ") for w in lines), lines
    return [w[len(source) + 2 :] for w in lines]


@pytest.mark.parametrize(
    ("scale", "age_years", "said"),
    [(1.0, 30.0, "records are from adults"), (1e-6, 1.0, "records out of the model's domain (noise level")],
    ids=["adult", "volts"],
)
def test_a_cohort_built_in_python_is_warned_about_as_its_csv_is(
    tmp_path: Path, scale: float, age_years: float, said: str
) -> None:
    cohort = _in_python(scale, age_years)
    path = write_wide_csv(cohort, tmp_path / "same.csv")
    _, from_file = read_for_model(path, n_samples=N_SAMPLES)
    _, in_memory = _as_cohort(cohort, N_SAMPLES)
    assert any(said in w for w in in_memory), in_memory
    file_lines = _without_source(from_file, str(path))
    memory_lines = _without_source(in_memory, "input")
    # the FMP line differs only in what it knows: a file "has no FMP", a cohort's records "have no FMP"; a hint
    # names what the user of each sets (a reading option, the cohort's own value: hunt 50b #1)
    cut = lambda lines: [w.split(" (pass ")[0].split(" (set ")[0] for w in lines if "FMP" not in w]
    assert cut(memory_lines) == cut(file_lines)
    assert any(
        "have no FMP" in w and "(set the cohort's fmp, e.g. ABRCohort.from_signals(fmp=...))" in w for w in memory_lines
    )
    assert not any("(pass " in w for w in memory_lines), memory_lines


def test_a_cohort_read_from_a_file_gets_that_files_warnings_named_by_it(tmp_path: Path) -> None:
    """`read_recording` → `predict(cohort)` says what `predict(path)` says, file name and all."""
    path = write_wide_csv(_in_python(1e-6, 30.0), tmp_path / "volts.csv")
    _, from_file = read_for_model(path, n_samples=N_SAMPLES)
    _, in_memory = _as_cohort(read_recording(path), N_SAMPLES)
    assert len(from_file) == 3  # FMP, domain, adults: no reading-option line to leave out here
    assert in_memory == from_file


def test_predict_and_denoise_return_the_cohorts_warnings() -> None:
    """Through the public methods, with the shipped model: the warning reaches `report.warnings`."""
    import abrnet

    model = abrnet.load()
    cohort = _in_python(1.0, 30.0)
    report = model.predict(cohort, series=True)
    assert any(w.startswith("input: ") and "from adults" in w for w in report.warnings)
    offset = _in_python(1.0, 1.0)
    offset.signals += 1.0  # the model grid's reading says it: named by the input as a file's line is (hunt 50b #1)
    (line,) = [w for w in model.predict(offset).warnings if "baseline offset" in w]
    assert line.startswith("input: "), line
    _, warnings = model.denoise(cohort)
    assert any(w.startswith("input: ") and "from adults" in w for w in warnings)
