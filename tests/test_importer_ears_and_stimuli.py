"""What a device export states per recording is kept per recording (hunt 48 #3, #4).

- A SmartEP export whose groups hold two tone-pip frequencies lost both (stimulus "unknown" for every record) and
  pooled 8 and 12 kHz into one series with one threshold; each group's frequency is now its record's.
- One SmartEP group with an empty (or "B") ``Ear:`` cell threw away every ear the file states: 13 of 13 records
  "name no ear", all read as an assumed R. Only that group's ear is assumed now.
- An EPL CFTS header ``SW EAR: Left`` was read as naming no ear (the pattern took L or R only), though the readers'
  policy reads L/R or Left/Right.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from abrnet.data.describe import describe_series
from abrnet.data.importers import read_recording
from abrnet.data.schema import ears_assumed
from tests.conftest import FIXTURES, require_fixture

SMARTEP = "epl_abr_peak_analysis/FBN_35_COCH_EXT_LEFT_12K.txt"


def _smartep_with(tmp_path: Path, label: str, value_of_group: Callable[[int, str], str]) -> Path:
    """The fixture with each group's ``label`` cell replaced by ``value_of_group(group, cell)``."""
    lines = require_fixture(FIXTURES / SMARTEP).read_text(encoding="latin-1").split("\n")
    out = []
    for line in lines:
        cells = line.split(",")
        if cells[0].strip() == label:
            n_groups = (len(cells) - 1) // 6
            for g in range(n_groups):
                cells[1 + 6 * g] = value_of_group(g, cells[1 + 6 * g])
        out.append(",".join(cells))
    path = tmp_path / f"edited_{label.strip(':. ').replace(' ', '_')}.txt"
    path.write_text("\n".join(out), encoding="latin-1")
    return path


def test_smartep_groups_of_two_frequencies_are_two_series(tmp_path: Path) -> None:
    path = _smartep_with(tmp_path, "Stim. Freq.", lambda g, _: "8000" if g % 2 else "12000")
    cohort = read_recording(path, age_years=0.1)
    freq = cohort.extras["stimulus_freq_hz"]
    assert np.array_equal(freq, np.where(np.arange(cohort.n_records) % 2, 8000.0, 12000.0))
    assert set(cohort.extras["stimulus"]) == {"tone_pip"}
    series = describe_series(cohort)
    assert len({s["in_series"] for s in series}) == 2, series
    one = read_recording(require_fixture(FIXTURES / SMARTEP), age_years=0.1)  # the fixture's one frequency: as before
    assert set(one.extras["stimulus_freq_hz"]) == {12000.0} and set(one.extras["stimulus"]) == {"tone_pip"}


def test_one_smartep_group_without_an_ear_leaves_the_others_recorded(tmp_path: Path) -> None:
    for blank in ("", "B"):
        path = _smartep_with(tmp_path, "Ear:", lambda g, cell, blank=blank: blank if g == 6 else cell)
        cohort = read_recording(path, age_years=0.1)
        assumed = ears_assumed(cohort)
        assert assumed.tolist() == [g == 6 for g in range(cohort.n_records)], blank
        assert set(cohort.ear[~assumed]) == {"L"}  # the file's stated ears, kept


def test_cfts_sw_ear_spelled_out_is_read(tmp_path: Path) -> None:
    src = require_fixture(FIXTURES / "epl_cfts_bburan/ABR-52-3")
    for spelled, ear in (("Left", "L"), ("right", "R"), ("L", "L")):
        path = tmp_path / f"ABR-52-3-{spelled}"
        path.write_bytes(src.read_bytes().replace(b"SW EAR: R", f"SW EAR: {spelled}".encode()))
        cohort = read_recording(path, age_years=0.1)
        assert set(cohort.ear) == {ear} and not ears_assumed(cohort).any(), spelled
