"""One contract every reader passes (in the spirit of MNE's ``_test_raw_reader``), parametrised over every format:
the real fixtures in ../shared/fixtures and, for formats without one, files written from their published layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from abrnet.data.csv_io import write_wide_csv
from abrnet.data.describe import describe_series
from abrnet.data.importers import detect_format, read_recording
from abrnet.data.io import load_cohort, save_cohort
from abrnet.data.metadata import ALLOWED, METADATA_FIELDS, STIMULUS_FREQ_HZ
from abrnet.data.resample import cohort_to_model_grid
from tests._arf_writer import abr_like, write_arf, write_biosig_csv
from tests.conftest import FIXTURES as SHARED_FIXTURES
from tests.conftest import make_toy_cohort, require_fixture

EPL = SHARED_FIXTURES / "epl_abr_peak_analysis"
BBURAN = SHARED_FIXTURES / "epl_cfts_bburan"
FS = 24414.0625  # TDT RZ6
OPTS = {"age_years": 1.0, "stimulus_rate_hz": 21.0, "level_db": 80.0}


def write_psi_abr(folder: Path, freqs: tuple[str, ...] = ("8000.0", "click")) -> Path:
    """A cftsdata-processed psi ABR run: ``<run> ABR average waveforms.csv`` as pandas writes the transposed
    (frequency, level, epoch_n, epoch_reject_ratio) x time frame (time in s, values in V), plus the settings JSON."""
    folder.mkdir(parents=True)
    fs, levels = 12500.0, (80.0, 40.0)
    t = np.arange(125) / fs - 1e-3
    cols = [(f, lv) for f in freqs for lv in levels]
    waves = [abr_like(t.size, fs, lv / 80) * 1e-6 for _, lv in cols]
    head = [
        "frequency," + ",".join(f for f, _ in cols), "level," + ",".join(f"{lv}" for _, lv in cols),
        "epoch_n," + ",".join("512" for _ in cols), "epoch_reject_ratio," + ",".join("0.01" for _ in cols),
        "time" + "," * len(cols),
    ]  # fmt: skip
    body = [f"{float(ti)!r}," + ",".join(f"{float(w[k])!r}" for w in waves) for k, ti in enumerate(t)]
    stem = folder.name
    (folder / f"{stem} ABR average waveforms.csv").write_text("\n".join(head + body) + "\n")
    (folder / f"{stem} ABR processing settings.json").write_text('{"actual_fs": 12500.0, "offset": -0.001}')
    return folder


# (case id, format, maker(tmp_path) -> path)
FIXTURES = [
    ("cfts_click", "epl_cfts", lambda _: EPL / "ABR-136-1"),
    ("cfts_tone", "epl_cfts", lambda _: BBURAN / "ABR-52-3"),
    ("cfts_no_levels", "epl_cfts", lambda _: EPL / "AAP2044-1_Fz"),
    ("cfts_vsep", "epl_cfts", lambda _: EPL / "VsEP-1018-13"),
    ("fast_abr", "fast_abr", lambda _: EPL / "XYZ999-ABR-15-1000.tsv"),
    ("smartep", "smartep", lambda _: EPL / "FBN_35_COCH_EXT_LEFT_12K.txt"),
    ("time_columns_uv", "time_columns", lambda _: EPL / "8 kHz waveform.txt"),
    ("time_columns_volts", "time_columns", lambda _: EPL / "873_2_1st column time.txt"),
    ("time_columns_polarity", "time_columns", lambda _: EPL / "KG_fzmaABR.csv"),
    ("time_columns_mlr", "time_columns", lambda _: EPL / "JLH_Cztip_MLRAEP_1k80R.csv"),
    (
        "biosig_csv",
        "biosig_csv",
        lambda d: write_biosig_csv(
            d / "export.csv", [(8000.0, lv, abr_like(244, FS, lv / 80)) for lv in (80, 60, 40)],
            lead=("SGI", "Rec No."),
        ),
    ),
    (
        "tdt_arf_rz",
        "tdt_arf",
        lambda d: write_arf(d / "rz.arf", [(16000.0, lv, abr_like(244, FS) * 1e-6) for lv in (90, 70)], rz=True),
    ),
    (
        "tdt_arf_rp",
        "tdt_arf",
        lambda d: write_arf(d / "rp.arf", [(4000.0, lv, abr_like(244, FS) * 1e-6) for lv in (90, 70)], rz=False),
    ),
    ("psi_abr", "psi_abr", lambda d: write_psi_abr(d / "20220601-1200 ID1234 left abr_io")),
    ("wide_csv", "csv", lambda d: write_wide_csv(make_toy_cohort(2), d / "wide.csv")),
    ("h5", "h5", lambda d: save_cohort(make_toy_cohort(2), d / "toy.h5")),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "make"), [f[1:] for f in FIXTURES], ids=[f[0] for f in FIXTURES])
def test_reader_contract(fmt: str, make, tmp_path: Path) -> None:
    path = require_fixture(make(tmp_path))  # a file in ../shared/fixtures, or one written here
    renamed = tmp_path / "renamed_no_suffix"  # detection by content, never by name
    if path.is_dir():
        shutil.copytree(path, renamed)
    else:
        renamed.write_bytes(path.read_bytes())
    assert detect_format(path) == fmt and detect_format(renamed) == fmt
    c = read_recording(path, **(OPTS if fmt not in ("h5", "csv") else {}))
    n, t = c.signals.shape
    assert n >= 1 and t >= 8 and c.signals.dtype == np.float32
    assert np.all(np.isfinite(c.signals)) and np.abs(c.signals).max() < 1e3  # µV, not nV
    assert np.abs(c.signals).max() > 1e-3  # µV, not V
    assert c.sampling_rate_hz > 0 and np.isfinite(c.t0_ms)
    assert np.all(np.isfinite(c.static_column("intensity_db")))
    assert c.attrs.get("fmp_source", "given") in ("split_buffers", "device", "given", "missing")
    assert (c.attrs.get("fmp_source") == "missing") == (not c.has_fmp.any())
    for key in METADATA_FIELDS:
        assert c.extras[key].shape == (n,)
        if key != STIMULUS_FREQ_HZ:
            assert set(c.extras[key].astype(str)) <= set(ALLOWED[key])
    if c.buffers is not None:
        assert c.buffers.shape == (n, 2, t) and np.all(np.isfinite(c.buffers))
    back = load_cohort(save_cohort(c, tmp_path / "round.h5"))
    np.testing.assert_array_equal(back.signals, c.signals)
    np.testing.assert_array_equal(back.static, c.static)
    assert back.sampling_rate_hz == c.sampling_rate_hz and back.t0_ms == c.t0_ms
    for key in METADATA_FIELDS:
        assert np.array_equal(back.extras[key], c.extras[key], equal_nan=key == STIMULUS_FREQ_HZ)
    assert (back.buffers is None) == (c.buffers is None)
    series = describe_series(c)
    assert sum(s["n_records"] for s in series) == n
    assert all(s["units"] == "µV" and s["sampling_rate_hz"] == pytest.approx(c.sampling_rate_hz) for s in series)
    grid, _ = cohort_to_model_grid(c)
    assert grid.signals.shape == (n, 200) and np.all(np.isfinite(grid.signals))
    if c.buffers is not None:
        assert grid.buffers is not None and grid.buffers.shape == (n, 2, 200)


TEXT_FORMATS = [f for f in FIXTURES if f[1] not in ("h5", "tdt_arf")]  # the binary formats have no BOM


@pytest.mark.parametrize(("fmt", "make"), [f[1:] for f in TEXT_FORMATS], ids=[f[0] for f in TEXT_FORMATS])
def test_utf8_bom_is_ignored(fmt: str, make, tmp_path: Path) -> None:
    """Excel/Notepad on Windows prefix a UTF-8 BOM: the file must read exactly as without it."""
    path = require_fixture(make(tmp_path))  # a file in ../shared/fixtures, or one written here
    bommed = tmp_path / "bom" / path.name
    if path.is_dir():
        shutil.copytree(path, bommed)
        target = next(bommed.glob("*average waveforms.csv"))
    else:
        bommed.parent.mkdir()
        target = bommed
    target.write_bytes(b"\xef\xbb\xbf" + (path / target.name if path.is_dir() else path).read_bytes())
    opts = OPTS if fmt != "csv" else {}
    assert detect_format(bommed) == fmt
    plain, got = read_recording(path, **opts), read_recording(bommed, **opts)
    np.testing.assert_array_equal(got.signals, plain.signals)
    np.testing.assert_array_equal(got.static, plain.static)
    assert got.sampling_rate_hz == plain.sampling_rate_hz and got.t0_ms == plain.t0_ms


def test_utf8_bom_biosig_level_column_first(tmp_path: Path) -> None:
    """A BOM glued to a first-column 'Level(dB)' header hid the level column."""
    waves = [abr_like(244, FS, lv / 80) for lv in (80, 60)]
    lines = [",".join(["Level(dB)", *map(str, range(244))])]
    lines += [",".join([f"{lv}", *(f"{v:.9g}" for v in w)]) for lv, w in zip((80, 60), waves, strict=True)]
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    assert detect_format(path) == "biosig_csv"
    assert read_recording(path, **OPTS).static_column("intensity_db").tolist() == [80.0, 60.0]
