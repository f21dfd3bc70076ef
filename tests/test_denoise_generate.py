"""`abrnet denoise` and `abrnet generate`: shapes, determinism, physical ranges, both samplers, --force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import abrnet
from abrnet.cli.main import app
from abrnet.constants import GENERATION_GUIDANCE, GENERATION_STEPS, PHYSICAL_RANGES, STATIC_PARAMS
from abrnet.data.io import load_cohort, save_cohort
from tests.conftest import make_toy_cohort

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
    observed = small["cohort"].signals.astype(np.float64)  # as the reader hands it to the model: centred
    np.testing.assert_allclose(a.extras["observed_uv"], observed - observed.mean(1, keepdims=True), atol=2e-6)
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


@pytest.mark.parametrize(("sampler", "steps"), [("ddim", 1), ("ddim", 4), ("dpm", 4)])
def test_denoise_is_deterministic_so_the_seed_changes_nothing(sampler: str, steps: int) -> None:
    """No denoising step draws noise (x_t* = α·x_obs, DDIM at η = 0, DPM-Solver++ an ODE solver), as the docstring
    and ``--seed``'s help say: another seed gives the same signals, and so does another batch size. The shipped
    model, so that the sampler really runs several steps from the records' own t*."""
    model = abrnet.load()
    cohort = make_toy_cohort(n_patients=1)
    a, _ = model.denoise(cohort, steps=steps, sampler=sampler, seed=0)  # type: ignore[arg-type]
    b, _ = model.denoise(cohort, steps=steps, sampler=sampler, seed=12345, batch_size=3)  # type: ignore[arg-type]
    assert np.all(np.isfinite(a.signals)) and not np.allclose(a.signals, a.extras["observed_uv"])  # it denoised
    np.testing.assert_allclose(a.signals, b.signals, rtol=0, atol=1e-5)


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
    assert list(a.patient_id) == ["gen7-000000", "gen7-000001", "gen7-000002"] and set(a.ear) == {"R"}
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


@pytest.fixture
def no_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any sampler run fail: the argument checks must refuse bad input before the model is run."""
    from abrnet.diffusion import sampling

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the sampler ran before the arguments were checked")

    for name in ("sample", "generate_joint", "denoise"):
        monkeypatch.setattr(sampling, name, refuse)


def test_generate_does_not_depend_on_batch_size(small: dict) -> None:
    """Stochastic DDIM and joint sampling draw noise at every step: each signal has its own seeded stream, so
    batch_size (a memory setting) cannot change the signals, as a generator consumed batch by batch did."""
    model = abrnet.load(small["ckpt"])
    cond = [[1.0, 60.0, 33.1, 3.0], [40.0, 30.0, 21.1, np.nan]]
    runs = [model.generate(2, conditions=cond, steps=3, seed=1, eta=0.5, batch_size=b).signals for b in (1, 4)]
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-5)
    joint = [model.generate(3, joint=True, steps=3, seed=1, batch_size=b) for b in (1, 4)]
    np.testing.assert_allclose(joint[0].signals, joint[1].signals, atol=1e-5)
    np.testing.assert_allclose(joint[0].static, joint[1].static, atol=1e-4)
    other = model.generate(2, conditions=cond, steps=3, seed=2, eta=0.5).signals
    assert not np.allclose(other, runs[1])  # the seed still matters


def test_generate_zero_added_noise_is_recorded_as_added(small: dict) -> None:
    """add_noise_nv=0 returns the clean response plus zero noise, and says so (it used to test truthiness)."""
    g = abrnet.load(small["ckpt"]).generate(1, conditions=[1.0, 60.0, 33.1, 3.0], steps=1, add_noise_nv=0)
    assert g.clean is not None and np.array_equal(g.signals, g.clean)
    assert g.attrs["signal_kind"] == "clean response + simulated recording noise" and g.attrs["added_noise_nv"] == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 2.5}, TypeError, "n must be an integer >= 1, got 2.5"),
        ({"n": "3"}, TypeError, "n must be an integer >= 1, got '3'"),
        ({"n": 0}, ValueError, "n must be an integer >= 1, got 0"),
        ({"guidance": float("nan")}, ValueError, "guidance must be .* >= 0 .*got nan"),
        ({"guidance": -1.0}, ValueError, "guidance must be .* >= 0 .*got -1"),
        ({"add_noise_nv": float("nan")}, ValueError, "add_noise_nv must be .* >= 0 .*got nan"),
        ({"add_noise_nv": -5.0}, ValueError, "add_noise_nv must be .* >= 0 .*got -5"),
        ({"steps": 0}, ValueError, "steps must be an integer >= 1"),
        ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        ({"sampler": "x"}, ValueError, "sampler must be one of 'ddim', 'dpm', got 'x'"),
        ({"eta": 0.5, "sampler": "dpm"}, ValueError, "eta .* needs sampler='ddim'"),
        ({"conditions": [[float("nan"), 60.0, 33.1, 3.0]]}, ValueError, "row 0: age_years must be in"),
        ({"joint": True}, ValueError, "conditions do not apply with joint=True"),
    ],
)
def test_generate_refuses_bad_arguments_up_front(
    small: dict, no_sampling: None, kwargs: dict, error: type[Exception], message: str
) -> None:
    args = {"n": 2, "conditions": [[1.0, 60.0, 33.1, 3.0]], "steps": 2, **kwargs}
    with pytest.raises(error, match=message):
        abrnet.load(small["ckpt"]).generate(**args)


def test_generate_guidance_zero_is_valid(small: dict) -> None:
    """guidance 0 is the null-condition pass alone (unconditional), a documented setting, not an error."""
    g = abrnet.load(small["ckpt"]).generate(1, conditions=[1.0, 60.0, 33.1, 3.0], steps=1, guidance=0)
    assert g.n_records == 1 and float(g.attrs["guidance"]) == 0.0


def test_denoise_checks_the_sampler_on_the_one_step_path(small: dict) -> None:
    """steps=1 never builds a scheduler, so an unknown sampler used to be accepted and recorded."""
    import torch

    from abrnet.diffusion.sampling import denoise

    model = abrnet.load(small["ckpt"])
    with pytest.raises(ValueError, match="sampler must be one of 'ddim', 'dpm', got 'x'"):
        model.denoise(small["cohort"], steps=1, sampler="x")  # type: ignore[arg-type]
    x, s = torch.zeros(2, 200), torch.zeros(2, 4)
    with pytest.raises(ValueError, match="sampler must be 'ddim' or 'dpm', got 'x'"):
        denoise(model.model, x, s, 0.1, steps=1, sampler="x")  # type: ignore[arg-type]


def test_denoise_refuses_reading_options_with_a_cohort(small: dict, no_sampling: None) -> None:
    with pytest.raises(ValueError, match="age_years=3: reading options apply to files only"):
        abrnet.load(small["ckpt"]).denoise(small["cohort"], age_years=3)


from click.testing import Result  # noqa: E402 (added at the end: the file is shared)

GEN_ONE = ["--n", "1", "--steps", "1", "--age", "1", "--intensity", "60", "--rate", "33.1", "--fmp", "3"]


def _refused(res: Result) -> str:
    """The one line of a refused CLI run (exit 2, no traceback)."""
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and "Traceback" not in res.output, res.output
    return lines[0]


def test_generate_plot_without_suffix_is_checked_as_the_png_it_writes(small: dict, tmp_path: Path) -> None:
    """--plot foo was checked as 'foo' while matplotlib wrote (over) foo.png."""
    (tmp_path / "foo.png").write_text("precious")
    base = ["generate", "--checkpoint", small["ckpt"], *GEN_ONE, "--out", str(tmp_path / "g.h5")]
    line = _refused(runner.invoke(app, [*base, "--plot", str(tmp_path / "foo")]))
    assert "foo.png" in line and "--force" in line, line
    assert (tmp_path / "foo.png").read_text() == "precious" and not (tmp_path / "g.h5").exists()
    res = runner.invoke(app, [*base, "--plot", str(tmp_path / "bar")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "bar.png").read_bytes()[:4] == b"\x89PNG" and "bar.png" in res.output


def test_generate_refuses_a_plot_format_before_sampling(small: dict, tmp_path: Path, no_sampling: None) -> None:
    """--plot plot.txt used to fail in matplotlib after the .h5 was written."""
    out = tmp_path / "g.h5"
    plot = str(tmp_path / "p.txt")
    line = _refused(
        runner.invoke(app, ["generate", "--checkpoint", small["ckpt"], *GEN_ONE, "--out", str(out), "--plot", plot])
    )
    assert "--plot" in line and "'.txt'" in line and "png" in line, line
    assert not out.exists()


def test_generate_refuses_a_folder_as_out_even_with_force(small: dict, tmp_path: Path, no_sampling: None) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    res = runner.invoke(app, ["generate", "--checkpoint", small["ckpt"], *GEN_ONE, "--out", str(folder), "--force"])
    assert "is a folder" in _refused(res)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no d.partial left beside it


@pytest.mark.parametrize(
    ("command", "extra", "option"),
    [
        ("generate", ["--intensity", "200"], "--intensity"),
        ("generate", ["--fmp", "inf"], "--fmp"),
        ("generate", ["--guidance", "nan"], "--guidance"),
        ("denoise", ["--seed", "-1"], "--seed"),
        ("denoise", ["--t0-ms", "nan"], "--t0-ms"),
    ],
)
def test_cli_argument_errors_name_the_option(
    small: dict, tmp_path: Path, no_sampling: None, command: str, extra: list[str], option: str
) -> None:
    """The API's up-front ValueError (about `intensity_db`, `seed`...) reached the user as a traceback."""
    out = tmp_path / "o.h5"
    if command == "generate":
        args = ["generate", "--checkpoint", small["ckpt"], *GEN_ONE, *extra, "--out", str(out)]
    else:
        args = ["denoise", "--checkpoint", small["ckpt"], str(small["path"]), *extra, "--out", str(out)]
    line = _refused(runner.invoke(app, args))
    assert f"field '{option}'" in line and line.startswith(f"error: abrnet {command}:"), line
    assert not out.exists()


def test_generate_cli_accepts_zero_added_noise_like_the_api(small: dict, tmp_path: Path) -> None:
    """--add-noise-nv 0 was refused ("must be > 0"); the API takes add_noise_nv=0: the clean response + zero noise."""
    out = tmp_path / "g.h5"
    res = runner.invoke(
        app, ["generate", "--checkpoint", small["ckpt"], *GEN_ONE, "--add-noise-nv", "0", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    g = load_cohort(out)
    assert g.clean is not None and np.array_equal(g.signals, g.clean) and float(g.attrs["added_noise_nv"]) == 0.0
    line = _refused(runner.invoke(app, ["generate", "--checkpoint", small["ckpt"], *GEN_ONE, "--add-noise-nv", "-1",
                                        "--out", str(tmp_path / "n.h5"), "--force"]))  # fmt: skip
    assert "field '--add-noise-nv'" in line and ">= 0" in line, line


def test_generate_guidance_default_is_unchanged_and_refused_with_joint(small: dict, tmp_path: Path) -> None:
    """guidance defaulted to 2.0 and was silently unused with joint=True; now None = `GENERATION_GUIDANCE` (1, the
    shipped model's validation choice) for conditional generation, the same signals as given explicitly, and a value
    given with joint=True is an error, in the API and the CLI. The default steps are `GENERATION_STEPS` (20)."""
    model = abrnet.load(small["ckpt"])
    cond = [1.0, 60.0, 33.1, 3.0]
    default = model.generate(2, conditions=cond, steps=2, seed=3)
    explicit = model.generate(2, conditions=cond, steps=2, seed=3, guidance=1.0)
    assert float(default.attrs["guidance"]) == GENERATION_GUIDANCE == 1.0
    np.testing.assert_array_equal(default.signals, explicit.signals)
    assert int(model.generate(1, conditions=cond, seed=3).attrs["steps"]) == GENERATION_STEPS == 20
    assert model.generate(1, joint=True, steps=1).attrs["mode"] == "joint"
    with pytest.raises(ValueError, match="guidance applies to conditional generation only"):
        model.generate(1, joint=True, steps=1, guidance=2.0)
    args = ["generate", "--checkpoint", small["ckpt"], "--joint", "--n", "1", "--steps", "1", "--guidance", "2"]
    line = _refused(runner.invoke(app, [*args, "--out", str(tmp_path / "j.h5")]))
    assert "field '--guidance'" in line and "conditional generation only" in line, line
    assert not (tmp_path / "j.h5").exists()
    res = runner.invoke(app, ["generate", "--checkpoint", small["ckpt"], *GEN_ONE, "--out", str(tmp_path / "c.h5")])
    assert res.exit_code == 0 and "guidance 1" in res.output, res.output
