"""A training config refuses a YAML key written twice, and a key set where the rest of the config never reads it.

Why: PyYAML kept the last of two equal keys, so a second ``optim:`` section silently dropped the first one's ``lr``;
and ``data.patients`` beside ``data.path`` (or ``huber_delta`` under a Gaussian loss, ``focal_gamma`` under
cross-entropy) was accepted, did nothing, and was recorded in the run's config.yaml as if it had applied.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from abrnet.config.train_config import ConfigError, TrainConfig, dump_config, load_config

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _refusal(path: Path | None, overrides: tuple[str, ...] = (), values: dict | None = None) -> str:
    with pytest.raises(ConfigError) as ei:
        load_config(path, overrides, values)
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


def test_a_second_section_is_refused_with_its_line(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "optim:\n  lr: 0.0005\ntrainer:\n  max_steps: 4\noptim:\n  weight_decay: 0.1\n")
    msg = _refusal(cfg)
    assert msg.startswith(f"{cfg}: optim: duplicate key at line 5 (first at line 1)"), msg


def test_a_key_written_twice_is_refused_at_any_depth(tmp_path: Path) -> None:
    assert "optim.lr: duplicate key at line 3" in _refusal(_write(tmp_path, "optim:\n  lr: 0.0005\n  lr: 0.01\n"))
    deep = "loss:\n  weights:\n    signal: 1.0\n    signal: 2.0\n"
    assert "loss.weights.signal: duplicate key at line 4" in _refusal(_write(tmp_path, deep))
    flow = "curriculum:\n  stages:\n    static: {start: 0.2, start: 0.3}\n"
    assert "curriculum.stages.static.start: duplicate key at line 3" in _refusal(_write(tmp_path, flow))
    assert "optim.lr: duplicate key" in _refusal(None, ("optim={lr: 0.1, lr: 0.2}",))
    # YAML's ``<<: *anchor`` brings keys an explicit one may override: not a duplicate
    text = "curriculum:\n  stages:\n    classification_threshold: &s {start: 0.2, ramp: 0.1}\n"
    text += "    static:\n      <<: *s\n      start: 0.3\n"
    assert load_config(_write(tmp_path, text)).curriculum.stages.static.start == 0.3


UNREAD = [  # (YAML, the key refused, words of its reason)
    ("data:\n  path: c.h5\n  patients: 5\n", "data.patients: set with data.path, whose file fixes the patients"),
    ("data:\n  path: c.h5\n  cache_dir: /elsewhere\n", "data.cache_dir: set with data.path"),
    ("data:\n  path: c.h5\nseries:\n  patients: 40\n", "series.patients: set with data.path"),
    ("series:\n  enabled: false\n  c: 5.0\n", "series.c: set with series.enabled: false, which fits no series stage"),
    ("series:\n  enabled: false\n  patients: 10\n", "series.patients: set with series.enabled: false"),
    ("data:\n  path: c.h5\nseries:\n  long_grid_patients: 9\n", "series.long_grid_patients: set with data.path"),
    ("series:\n  enabled: false\n  long_grid_patients: 9\n", "series.long_grid_patients: set with series.enabled"),
    (
        "model:\n  overrides: {n_transformer_layers: 0}\noptim:\n  transformer_lr: 0.5\n",
        "optim.transformer_lr: set with model.preset: cpu and model.overrides: {'n_transformer_layers': 0}, which "
        "give the network no transformer layer",
    ),
    ("loss:\n  huber_delta: 99\n", "loss.huber_delta: set with loss.regression_loss: gaussian_nll"),
    ("loss:\n  classification_loss: ce\n  focal_gamma: 7\n", "loss.focal_gamma: set with loss.classification_loss: ce"),
    (
        "loss:\n  class_weights: [1, 1, 1, 1, 1]\n  class_balanced_beta: 0.9\n",
        "loss.class_balanced_beta: set with loss.class_weights: [1.0, 1.0, 1.0, 1.0, 1.0]",
    ),
    (
        "loss:\n  class_weights: none\n  classification_loss: ce\n  class_balanced_beta: 0.9\n",
        "loss.class_balanced_beta: set with loss.class_weights: none",
    ),
]


@pytest.mark.parametrize(("text", "expect"), UNREAD)
def test_a_key_the_config_never_reads_is_refused(tmp_path: Path, text: str, expect: str) -> None:
    cfg = _write(tmp_path, text)
    msg = _refusal(cfg)
    assert msg.startswith(f"{cfg}: {expect}") and msg.endswith("; remove it"), msg


def test_the_hunts_file_names_every_unread_key_on_one_line(tmp_path: Path) -> None:
    text = "data:\n  patients: 5\n  cache_dir: /nonexistent\nloss:\n  regression_loss: gaussian_nll\n"
    text += "  huber_delta: 99\n  classification_loss: ce\n  focal_gamma: 7\n"
    msg = _refusal(_write(tmp_path, text), ("data.path=c.h5",))
    for key in ("data.patients", "data.cache_dir", "loss.huber_delta", "loss.focal_gamma"):
        assert f"{key}: set with" in msg, msg


def test_a_key_typed_for_the_run_is_refused_even_at_its_default(tmp_path: Path) -> None:
    """--set or an option is this run's request, default value or not."""
    msg = _refusal(None, ("loss.classification_loss=ce", "loss.focal_gamma=2.0"))
    assert msg.startswith("<defaults>: loss.focal_gamma: set with loss.classification_loss: ce"), msg
    assert "data.patients: set with data.path" in _refusal(None, values={"data.path": "c.h5", "data.patients": 2000})
    section = "loss={regression_loss: gaussian_nll, huber_delta: 1.345}"
    assert "loss.huber_delta: set with" in _refusal(None, (section,))


def test_the_same_keys_are_refused_where_unread_and_accepted_where_read(tmp_path: Path) -> None:
    gaussian = "loss:\n  regression_loss: gaussian_nll\n  huber_delta: 2.0\n"
    assert "loss.huber_delta: set with" in _refusal(_write(tmp_path, gaussian))
    ok = "data:\n  patients: 5\n  cache_dir: /c\nseries:\n  patients: 40\nloss:\n  regression_loss: huber\n"
    ok += "  huber_delta: 2.0\n  classification_loss: focal\n  focal_gamma: 3.0\n  class_balanced_beta: 0.9\n"
    cfg = load_config(_write(tmp_path, ok))
    assert (cfg.data.patients, cfg.loss.huber_delta, cfg.loss.focal_gamma) == (5, 2.0, 3.0)
    beta = "loss:\n  class_weights: none\n  classification_loss: class_balanced\n  class_balanced_beta: 0.9\n"
    assert load_config(_write(tmp_path, beta)).loss.class_balanced_beta == 0.9


def test_recorded_and_shipped_configs_still_load_while_the_same_key_set_by_hand_does_not(tmp_path: Path) -> None:
    """A file may spell out a key at its default: the design config lists every key (the README trains it with
    --data FILE) and a run's config.yaml records every field; `abrnet.load` validates a checkpoint's config without
    the check, whatever it holds."""
    design = ROOT / "configs" / "optimized_architecture.yaml"
    assert load_config(design, values={"data.path": "c.h5"}).data.path == "c.h5"
    recorded = TrainConfig.model_validate(
        {"data": {"path": "c.h5"}, "loss": {"classification_loss": "ce", "class_weights": [1, 2, 1, 1, 1]}}
    )
    run_yaml = dump_config(recorded, tmp_path / "run" / "config.yaml")
    assert load_config(run_yaml) == recorded
    stored = {**recorded.model_dump(mode="json"), "loss": {**recorded.loss.model_dump(mode="json"), "focal_gamma": 7}}
    assert TrainConfig.model_validate(stored).loss.focal_gamma == 7  # an older checkpoint's config still loads
    assert "loss.focal_gamma: set with" in _refusal(run_yaml, ("loss.focal_gamma=7",))


def test_cli_patients_with_data_gives_the_configs_reason(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from abrnet.cli.main import app

    res = CliRunner().invoke(app, ["train", "--data", "c.h5", "--patients", "5", "--out", str(tmp_path / "r")])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "'--patients': set with --data, whose file fixes the patients; remove it" in lines[0], lines


def test_the_two_negatives_cannot_share_more_than_every_row(tmp_path: Path) -> None:
    """Both negatives come from one uniform draw per analysis row: 0.8 + 0.8 trained 0.2 reversed (hunt 50c #3)."""
    text = "diffusion:\n  noise_negative_fraction: 0.8\n  reversed_negative_fraction: 0.8\n"
    assert "must be <= 1 (shares of the same analysis rows; got 0.8 + 0.8 = 1.6)" in _refusal(_write(tmp_path, text))
    edge = "diffusion:\n  noise_negative_fraction: 0.5\n  reversed_negative_fraction: 0.5\n"
    assert load_config(_write(tmp_path, edge)).diffusion.reversed_negative_fraction == 0.5
    read = "series:\n  enabled: true\n  c: 5.0\noptim:\n  transformer_lr: 0.5\n"  # read where series and attention are
    assert load_config(_write(tmp_path, read)).series.c == 5.0


def test_a_bad_value_names_the_line_it_was_written_on(tmp_path: Path) -> None:
    """A refused value is found in the file by its line; a key set again on the command line is named without one
    (the file's line no longer holds the value refused)."""
    path = _write(tmp_path, "seed: 1\noptim:\n  lr: -1\ntrainer:\n  max_step: 3\n")
    assert _refusal(path) == (
        f"{path}: optim.lr (line 3): Input should be greater than 0; "
        "trainer.max_step (line 5): Extra inputs are not permitted"
    )
    assert "optim.lr: Input should be greater than 0" in _refusal(path, ("optim.lr=-2",))


def test_a_bad_value_typed_as_an_option_is_named_as_that_option(tmp_path: Path) -> None:
    """`abrnet train --config my.yaml --seed -1` said "my.yaml: seed: ...", sending the user to a valid file (hunt
    44c #2): a value the caller says was typed as an option is named so, under the command where every bad value
    was typed; a --set key as ``--set KEY``; a bad value in the file beside it keeps the file and its line."""
    path = _write(tmp_path, "seed: 42\n")
    names = {"seed": "--seed", "trainer.max_minutes": "--max-minutes"}
    with pytest.raises(ConfigError) as ei:
        load_config(path, (), {"seed": -1}, option_names=names, command="abrnet train")
    assert str(ei.value) == "abrnet train: field '--seed': Input should be greater than or equal to 0"
    with pytest.raises(ConfigError) as ei:
        load_config(path, ("optim.lr=abc",), option_names=names, command="abrnet train")
    assert str(ei.value).startswith("abrnet train: field '--set optim.lr': Input should be a valid number")
    bad_file = _write(tmp_path, "optim:\n  lr: -1\n", "bad.yaml")
    with pytest.raises(ConfigError) as ei:
        load_config(bad_file, (), {"seed": -1}, option_names=names, command="abrnet train")
    assert str(ei.value) == (
        f"{bad_file}: field '--seed': Input should be greater than or equal to 0; "
        "optim.lr (line 2): Input should be greater than 0"
    )
    assert _refusal(path, (), {"seed": -1}).startswith(f"{path}: seed: ")  # the Python caller: key paths, as before


def test_a_key_set_both_by_set_and_by_its_option_is_refused() -> None:
    """``--set trainer.max_steps=-5 --max-steps 2`` trained 2 steps: the option won and the --set value was never
    checked (hunt 44c #8). One value per key, as for a key written twice in a file."""
    with pytest.raises(ConfigError) as ei:
        load_config(None, ("trainer.max_steps=-5",), {"trainer.max_steps": 2},
                    option_names={"trainer.max_steps": "--max-steps"}, command="abrnet train")  # fmt: skip
    assert str(ei.value) == "abrnet train: trainer.max_steps is set twice, by --set and by --max-steps: give one"
    assert load_config(None, ("trainer.max_minutes=5",), {"trainer.max_steps": 2}).trainer.max_steps == 2


def test_a_key_set_twice_by_set_is_refused_and_a_binary_config_is_one_line(tmp_path: Path) -> None:
    """``--set model.preset=tiny --set model.preset=cpu`` started a full-size fit (the last won, silently), and an
    .h5 passed as --config was a UnicodeDecodeError traceback (hunt 48)."""
    with pytest.raises(ConfigError, match=r"^abrnet train: model\.preset is set twice by --set: give one value$"):
        load_config(None, ["model.preset=tiny", "model.preset=cpu"], command="abrnet train")
    assert load_config(None, ["model.preset=tiny", "model.preset=cpu"]).model.preset == "cpu"  # Python: later wins
    binary = tmp_path / "c.h5"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n\x00\xff")
    with pytest.raises(ConfigError, match=r"c\.h5: not a YAML config \(not UTF-8 text\)$"):
        load_config(binary)


def test_devices_and_an_unknown_set_section_are_named_as_typed(tmp_path: Path) -> None:
    """``--devices abc`` was blamed on ``--set trainer.devices`` (the CLI passed it as one), and ``--set foo.bar=1``
    on ``<defaults>`` (hunt 48)."""
    from typer.testing import CliRunner

    from abrnet.cli.main import app

    def refusal(*args: str) -> str:
        res = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "r"), *args])
        assert res.exit_code == 2, res.output
        return res.output.strip().splitlines()[-1]

    assert refusal("--devices", "abc").startswith("error: abrnet train: field '--devices': must be 'auto', a positive")
    assert refusal("--devices", "[0,") == (
        "error: abrnet train: field '--devices': not a value ('[0,'): a count, a list of devices or auto"
    )
    assert refusal("--set", "foo.bar=1") == "error: abrnet train: foo: Extra inputs are not permitted"
    twice = refusal("--devices", "2", "--set", "trainer.devices=1")
    assert twice.endswith("trainer.devices is set twice, by --set and by --devices: give one")
    assert not (tmp_path / "r").exists()
