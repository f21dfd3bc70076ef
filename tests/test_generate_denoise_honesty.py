"""What `denoise` and `generate` tell the user about outputs that look like responses but are not evidence of one.

Found by a user hunt: denoised pure noise read as wave V with no warning; generation outside the training domain
(130 dB, 500/s, FMP 1000) and with added noise (FMP kept as requested) was silent; generated ids clashed across
files; denoise consumed one generator across batches.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import abrnet
from abrnet.cli.main import app
from abrnet.constants import WAVES, is_present
from abrnet.data.io import load_cohort, save_cohort
from abrnet.inference.generation import generation_warnings

runner = CliRunner()
INFANT = [0.0, 60.0, 33.1, 3.0]  # inside the training cohort on every axis


@pytest.fixture(scope="module")
def run(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("honesty")
    cohort = tiny_run["cohort"].subset(np.arange(10))
    ckpt = str(tiny_run["dir"] / "best.ckpt")
    return {"path": save_cohort(cohort, root / "ten.h5"), "cohort": cohort, "ckpt": ckpt, "model": abrnet.load(ckpt)}


def test_denoise_stores_observed_p_wave_v_and_warns_about_records_without_one(run: dict) -> None:
    """p(V) is the predict analysis of the *observed* record; the warning counts the records below the cut."""
    model = run["model"]
    den, lines = model.denoise(run["cohort"])
    p_v = model.predict(run["cohort"]).predictions.peak_presence_prob[:, WAVES.index("V")]  # predict's analysis
    np.testing.assert_allclose(den.extras["observed_p_wave_v"], p_v, atol=1e-6)
    absent = int((~is_present(p_v)).sum())
    said = [ln for ln in lines if "no wave V as recorded" in ln]
    if absent:
        assert len(said) == 1 and f"{absent} of 10 records" in said[0] and "not evidence of one" in said[0], said
    else:
        assert not said


def test_denoise_warns_on_pure_noise_and_the_cli_writes_the_column(run: dict, tmp_path: Path) -> None:
    """Noise only (no response in it) must be flagged, whatever the estimate looks like; the .h5 keeps p(V)."""
    noise = run["cohort"].subset(np.arange(4))
    noise.signals = np.random.default_rng(0).normal(0.0, 0.05, noise.signals.shape).astype(np.float32)
    noise.clean = None
    path = save_cohort(noise, tmp_path / "noise.h5")
    p_v = run["model"].predict_cohort(noise).peak_presence_prob[:, WAVES.index("V")]
    out = tmp_path / "dn.h5"
    res = runner.invoke(app, ["denoise", "--checkpoint", run["ckpt"], str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = load_cohort(out).extras["observed_p_wave_v"]
    assert got.shape == (4,) and np.all((got >= 0) & (got <= 1))
    absent = int((~is_present(p_v)).sum())
    assert absent == 0 or f"{absent} of 4 records read as no wave V as recorded" in " ".join(res.output.split())


def test_denoise_does_not_depend_on_batch_size(run: dict) -> None:
    """Each record's sampler noise has its own generator (as generate's), so batch_size is a memory setting only."""
    runs = [run["model"].denoise(run["cohort"], steps=2, seed=3, batch_size=b)[0].signals for b in (1, 4)]
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-6)


def test_generate_warns_once_per_kind_outside_the_training_domain(run: dict) -> None:
    model = run["model"]
    cond = [[50.0, 130.0, 500.0, 1000.0], [60.0, 140.0, 90.0, 3.0], INFANT]
    with pytest.warns(UserWarning) as caught:
        g = model.generate(1, conditions=cond, steps=1)
    lines = generation_warnings(g)
    assert [str(w.message) for w in caught] == lines
    by_kind = {k: [ln for ln in lines if ln.startswith(f"generate: {k} ")] for k in ("intensity", "rate", "age")}
    assert all(len(v) == 1 for v in by_kind.values()), lines
    assert "130, 140 dB nHL" in by_kind["intensity"][0] and "0–100 dB" in by_kind["intensity"][0]
    lo, hi = model.ranges.stimulus_rate_hz  # the file's training split: a 40-patient file need not hold 11.1 /s
    assert 11.1 - 1e-3 <= lo < hi <= 49.1 + 1e-3
    assert "90, 500 /s" in by_kind["rate"][0] and f"{lo:g}–{hi:g} /s" in by_kind["rate"][0]
    assert "50, 60 years" in by_kind["age"][0]
    assert any(ln.startswith("generate: FMP 1000 above") for ln in lines), lines
    assert len(lines) == 4, lines  # no sparse-adult line: it speaks of reading accuracy, not of generation
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an in-domain condition is silent, an adult's within the cohort's ages too
        assert generation_warnings(model.generate(1, conditions=INFANT, steps=1)) == []
        assert generation_warnings(model.generate(1, conditions=[[30.0, 80.0, 21.1, 2.0]], steps=1)) == []


def test_generate_cli_prints_the_domain_warnings(run: dict, tmp_path: Path) -> None:
    args = ["generate", "--checkpoint", run["ckpt"], "--n", "1", "--steps", "1", "--age", "0", "--intensity", "130"]
    res = runner.invoke(app, [*args, "--rate", "33.1", "--fmp", "nan", "--out", str(tmp_path / "g.h5")])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "warning: generate: intensity 130 dB nHL outside" in flat and "UserWarning" not in flat, res.output
    assert "generate: intensity 130" in load_cohort(tmp_path / "g.h5").attrs["warnings"]


def test_added_noise_is_exact_per_record_and_makes_fmp_not_measured(run: dict) -> None:
    g = run["model"].generate(4, conditions=INFANT, steps=1, add_noise_nv=50.0, seed=2)
    rms_nv = 1000.0 * np.sqrt(np.mean(np.square(g.signals - g.clean), axis=1))
    np.testing.assert_allclose(rms_nv, 50.0, rtol=1e-3)
    assert np.all(np.isnan(g.static_column("fmp")))  # the noisy record's FMP was never measured
    np.testing.assert_allclose(g.extras["generation_fmp"], 3.0)
    np.testing.assert_allclose(g.static_column("intensity_db"), 60.0)  # the rest of the condition stays
    clean = run["model"].generate(1, conditions=INFANT, steps=1)
    assert clean.static_column("fmp")[0] == pytest.approx(3.0) and clean.clean is None


def test_generated_ids_differ_by_seed_so_files_can_be_read_together(run: dict, tmp_path: Path) -> None:
    model = run["model"]
    a, b = (model.generate(2, conditions=INFANT, steps=1, seed=s) for s in (1, 2))
    assert list(a.patient_id) == ["gen1-000000", "gen1-000001"] and set(a.patient_id).isdisjoint(b.patient_id)
    assert list(model.generate(2, conditions=INFANT, steps=1, seed=1).patient_id) == list(a.patient_id)
    paths = [str(save_cohort(c, tmp_path / f"{k}.h5")) for k, c in (("a", a), ("b", b))]
    res = runner.invoke(app, ["predict", "--checkpoint", run["ckpt"], *paths, "--out", str(tmp_path / "p.csv")])
    assert res.exit_code == 0, res.output


def test_generate_help_documents_fmp_and_where_the_defaults_come_from() -> None:
    """The defaults were 50 steps and guidance 2, said to be "not validated"; they are now the shipped model's
    validation choice, and the help says so (and shows them)."""
    res = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    flat = " ".join(res.output.replace("│", " ").split())
    assert "nan = not measured" in flat and "required with --age/--intensity/--rate" in flat, flat
    assert "Validated range 1-3" in flat and "exaggerate amplitudes" in flat, flat
    assert "The defaults (ddim, 20 steps, guidance 1) are what `abrnet evaluate --generation` chose" in flat, flat
    assert "[default: 20]" in flat and "not validated" not in flat, flat
