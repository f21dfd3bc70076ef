"""`abrnet denoise` and `abrnet generate`: shapes, determinism, physical ranges, both samplers, --force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import abrnet
from abrnet.cli.main import app
from abrnet.constants import PHYSICAL_RANGES, STATIC_PARAMS
from abrnet.data.io import load_cohort, save_cohort

runner = CliRunner()


@pytest.fixture(scope="module")
def small(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("dengen")
    cohort = tiny_run["cohort"].subset(np.arange(12))
    return {
        "path": save_cohort(cohort, root / "small.h5"),
        "cohort": cohort,
        "ckpt": str(tiny_run["dir"] / "best.ckpt"),
    }


def test_denoise_shape_determinism_and_observed(small: dict, tmp_path: Path) -> None:
    outs = []
    for name in ("a.h5", "b.h5"):
        res = runner.invoke(
            app, ["denoise", "--checkpoint", small["ckpt"], str(small["path"]), "--out", str(tmp_path / name)]
        )
        assert res.exit_code == 0, res.output
        outs.append(load_cohort(tmp_path / name))
    a, b = outs
    assert a.signals.shape == (12, 200)
    np.testing.assert_array_equal(a.signals, b.signals)
    np.testing.assert_array_equal(a.extras["observed_uv"], small["cohort"].signals)
    assert not np.allclose(a.signals, small["cohort"].signals)  # it did something
    assert int(a.attrs["denoise_steps"]) == 1
    res = runner.invoke(
        app, ["denoise", "--checkpoint", small["ckpt"], str(small["path"]), "--out", str(tmp_path / "a.h5")]
    )
    assert res.exit_code == 2 and "--force" in res.output


def test_denoise_multistep_differs_from_one_step(small: dict) -> None:
    model = abrnet.load(small["ckpt"])
    one, _ = model.denoise(small["cohort"], steps=1)
    five, _ = model.denoise(small["cohort"], steps=5)
    assert one.signals.shape == five.signals.shape == (12, 200)
    assert np.all(np.isfinite(five.signals))
    assert not np.allclose(one.signals, five.signals)


@pytest.mark.parametrize("sampler", ["ddim", "dpm"])
def test_generate_conditional_seeded(small: dict, tmp_path: Path, sampler: str) -> None:
    base = ["generate", "--checkpoint", small["ckpt"], "--n", "3", "--age", "1", "--intensity", "60"]
    base += ["--rate", "33.1", "--fmp", "3", "--sampler", sampler, "--steps", "4", "--guidance", "1.5"]
    for name, seed in (("a.h5", "7"), ("b.h5", "7"), ("c.h5", "8")):
        res = runner.invoke(app, [*base, "--seed", seed, "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    a, b, c = (load_cohort(tmp_path / n) for n in ("a.h5", "b.h5", "c.h5"))
    assert a.signals.shape == (3, 200) and np.all(np.isfinite(a.signals))
    np.testing.assert_array_equal(a.signals, b.signals)
    assert not np.allclose(a.signals, c.signals)
    np.testing.assert_allclose(a.static, np.tile([1, 60, 33.1, 3], (3, 1)), rtol=1e-6)
    assert list(a.patient_id) == ["gen000000", "gen000001", "gen000002"] and set(a.ear) == {"R"}
    assert np.all(np.isnan(a.latency_ms)) and np.all(a.class_id == -1)
    assert a.attrs["sampler"] == sampler and int(a.attrs["steps"]) == 4 and float(a.attrs["guidance"]) == 1.5
    assert int(a.attrs["seed"]) == 7 and a.attrs["checkpoint"] == small["ckpt"]

    def signals(*extra: str) -> np.ndarray:
        out = tmp_path / f"g{len(list(tmp_path.iterdir()))}.h5"
        res = runner.invoke(app, [*base, "--seed", "7", *extra, "--out", str(out)])
        assert res.exit_code == 0, res.output
        return load_cohort(out).signals

    # conditional: the same seed under another condition gives another response ...
    assert not np.allclose(signals("--intensity", "20"), a.signals)
    # ... and that is the condition's doing: at guidance 0 (the null-condition pass alone) the condition is ignored
    np.testing.assert_allclose(signals("--guidance", "0"), signals("--guidance", "0", "--intensity", "20"), atol=1e-6)


def test_generate_joint_in_physical_ranges(small: dict, tmp_path: Path) -> None:
    out = tmp_path / "joint.h5"
    res = runner.invoke(
        app,
        [
            "generate",
            "--checkpoint",
            small["ckpt"],
            "--n",
            "6",
            "--joint",
            "--steps",
            "3",
            "--out",
            str(out),
            "--plot",
            str(tmp_path / "g.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    g = load_cohort(out)
    assert g.signals.shape == (6, 200) and np.all(np.isfinite(g.signals))
    for j, name in enumerate(STATIC_PARAMS):
        lo, hi = PHYSICAL_RANGES[name]
        assert np.all((g.static[:, j] >= lo) & (g.static[:, j] <= hi)), name
    level = g.static_column("intensity_db")
    np.testing.assert_array_equal(level, np.round(level / 5) * 5)
    assert g.attrs["mode"] == "joint"
    assert (tmp_path / "g.png").stat().st_size > 0


def test_generate_conditions_file_and_noise(small: dict, tmp_path: Path) -> None:
    cond = tmp_path / "cond.csv"
    cond.write_text("age_years,intensity_db,stimulus_rate_hz,fmp\n0,80,33.1,5\n2,30,33.1,1\n")
    out = tmp_path / "gen.h5"
    args = ["generate", "--checkpoint", small["ckpt"], "--conditions", str(cond), "--n", "2", "--steps", "3"]
    res = runner.invoke(app, [*args, "--add-noise-nv", "80", "--out", str(out)])
    assert res.exit_code == 0, res.output
    g = load_cohort(out)
    assert g.signals.shape == (4, 200)
    np.testing.assert_allclose(g.static_column("intensity_db"), [80, 80, 30, 30])
    noise = g.signals - g.clean
    assert 0.03 < float(noise.std()) < 0.2  # ≈ 80 nV RMS of simulated recording noise
    # a bad conditions file: one line naming file, field and row
    cond.write_text("age_years,intensity_db,stimulus_rate_hz,fmp\n0,loud,33.1,5\n")
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "x.h5")])
    assert res.exit_code == 2
    assert str(cond) in res.output and "intensity_db" in res.output and "row 1" in res.output


def test_generate_needs_all_conditions(small: dict, tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["generate", "--checkpoint", small["ckpt"], "--intensity", "60", "--out", str(tmp_path / "x.h5")]
    )
    assert res.exit_code == 2 and "--age" in res.output
    assert not (tmp_path / "x.h5").exists()


def test_generate_conditions_must_be_rows_of_four(small: dict) -> None:
    """A row short of FMP, or rows given column-wise, used to fail in a reshape or be silently regrouped."""
    model = abrnet.load(small["ckpt"])
    assert model.generate(1, conditions=[30.0, 60.0, 21.0, np.nan], steps=1).n_records == 1  # one row, flat
    rows = np.array([[30.0, 60.0, 21.0, 1.0], [1.0, 40.0, 21.0, 2.0], [50.0, 80.0, 21.0, np.nan]])
    for bad in ([[30.0, 60.0, 21.0]], rows.T):
        with pytest.raises(ValueError, match="rows of 4 values"):
            model.generate(1, conditions=bad, steps=1)


def test_generate_stochastic_ddim_is_seeded_and_ddim_only(small: dict, tmp_path: Path) -> None:
    base = ["generate", "--checkpoint", small["ckpt"], "--n", "2", "--age", "1", "--intensity", "60"]
    base += ["--rate", "33.1", "--fmp", "3", "--steps", "4", "--eta", "1"]
    for name in ("a.h5", "b.h5"):
        res = runner.invoke(app, [*base, "--seed", "3", "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    a, b = load_cohort(tmp_path / "a.h5"), load_cohort(tmp_path / "b.h5")
    np.testing.assert_array_equal(a.signals, b.signals)
    assert float(a.attrs["eta"]) == 1.0
    res = runner.invoke(app, [*base, "--sampler", "dpm", "--out", str(tmp_path / "c.h5")])
    assert res.exit_code == 2 and "--eta" in res.output and not (tmp_path / "c.h5").exists()


def test_generate_band_limit_is_the_recording_filter_on_the_raw_output(small: dict, tmp_path: Path) -> None:
    """Default output = raw sampler output through the 100-3000 Hz zero-phase band-pass; --no-band-limit = raw."""
    from abrnet.data.filters import bandpass_filter

    base = ["generate", "--checkpoint", small["ckpt"], "--n", "4", "--age", "1", "--intensity", "60"]
    base += ["--rate", "33.1", "--fmp", "3", "--steps", "4", "--seed", "5"]
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "f.h5")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*base, "--no-band-limit", "--out", str(tmp_path / "r.h5")])
    assert res.exit_code == 0, res.output
    filtered, raw = load_cohort(tmp_path / "f.h5"), load_cohort(tmp_path / "r.h5")
    assert filtered.attrs["band_limit_hz"] == "100-3000" and raw.attrs["band_limit_hz"] == "none"
    np.testing.assert_allclose(filtered.signals, bandpass_filter(raw.signals, 20000.0, 100.0, 3000.0, 2), atol=1e-6)

    def above_band(x: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(x, axis=1)) ** 2
        return float(spectrum[:, np.fft.rfftfreq(200, 1 / 20000.0) > 5000].sum())

    assert above_band(filtered.signals) < 0.05 * above_band(raw.signals)
