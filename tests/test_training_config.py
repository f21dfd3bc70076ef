"""Training config: strict keys, range checks with key paths, YAML == defaults, dump/load round trip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from abrnet.config.train_config import ConfigError, TrainConfig, dump_config, load_config

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "configs" / "optimized_architecture.yaml"
GPU = ROOT / "configs" / "gpu.yaml"


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def test_design_yaml_equals_defaults() -> None:
    assert load_config(DESIGN) == TrainConfig()
    # every key is spelled out in the file (not just left to defaults)
    raw = yaml.safe_load(DESIGN.read_text(encoding="utf-8"))
    assert raw == TrainConfig().model_dump(mode="json")


def test_gpu_yaml_loads_base_preset() -> None:
    cfg = load_config(GPU)
    assert cfg.model.preset == "base"
    assert cfg.trainer.precision == "bf16-mixed"
    assert cfg.trainer.max_minutes is None


def test_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cfg\.yaml: optimiser \(line \d+\): Extra inputs are not permitted"):
        load_config(_write(tmp_path, {"optimiser": {"lr": 1.0}}))


def test_unknown_nested_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config(_write(tmp_path, {"loss": {"weights": {"peak_latencyy": 2.0}}}))
    assert "loss.weights.peak_latencyy" in str(ei.value)
    assert "\n" not in str(ei.value)


def test_negative_lr_names_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"optim\.transformer_lr \(line \d+\): Input should be greater than 0"):
        load_config(_write(tmp_path, {"optim": {"transformer_lr": -1e-4}}))


def test_several_errors_on_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config(_write(tmp_path, {"optim": {"lr": 0}, "data": {"batch_size": -1}}))
    msg = str(ei.value)
    assert "optim.lr" in msg and "data.batch_size" in msg and "\n" not in msg


def test_curriculum_fractions_over_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"curriculum \(line \d+\): .*s4_warmup \+ transformer_ramp must be <= 1"):
        load_config(_write(tmp_path, {"curriculum": {"s4_warmup": 0.7, "transformer_ramp": 0.4}}))
    # exactly 1 is allowed
    cfg = load_config(_write(tmp_path, {"curriculum": {"s4_warmup": 0.5, "transformer_ramp": 0.5}}))
    assert cfg.curriculum.transformer_ramp == 0.5


def test_bad_literals_and_unions(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"diffusion\.prediction_type"):
        load_config(_write(tmp_path, {"diffusion": {"prediction_type": "x0"}}))
    with pytest.raises(ConfigError, match=r"loss\.class_weights \(line \d+\): a list must hold 5 numbers"):
        load_config(_write(tmp_path, {"loss": {"class_weights": [1.0, 2.0]}}))
    cfg = load_config(_write(tmp_path, {"loss": {"class_weights": [1, 2, 3, 4, 5]}, "trainer": {"precision": 32}}))
    assert cfg.loss.class_weights == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert cfg.trainer.precision == "32"
    with pytest.raises(ConfigError, match=r"trainer \(line \d+\): set max_steps or max_minutes"):
        load_config(_write(tmp_path, {"trainer": {"max_steps": None, "max_minutes": None}}))


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("optim: {lr: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match=r"cannot read config"):
        load_config(tmp_path / "nope.yaml")
    p.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"top level must be a mapping"):
        load_config(p)


def test_overrides_and_dump_roundtrip(tmp_path: Path) -> None:
    cfg = load_config(DESIGN, ["optim.lr=0.002", "model.overrides={dropout: 0.2}"])
    assert cfg.optim.lr == 0.002
    out = dump_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(out) == cfg
    with pytest.raises(ConfigError, match=r"optim\.lrr"):
        load_config(DESIGN, ["optim.lrr=1"])


def test_model_overrides_checked_against_model_config(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, {"model": {"overrides": {"dropout": 0.2}}})).model.overrides == {"dropout": 0.2}
    unknown = r"model\.overrides \(line \d+\): unknown ModelConfig field\(s\) \['no_such_field'\]"
    with pytest.raises(ConfigError, match=unknown):
        load_config(_write(tmp_path, {"model": {"overrides": {"no_such_field": 1}}}))
    with pytest.raises(ConfigError, match=r"model\.overrides \(line \d+\): .*rejected the overrides"):
        load_config(_write(tmp_path, {"model": {"overrides": {"base_channels": 0}}}))
    with pytest.raises(ConfigError, match=r"diffusion\.cond_drop_prob, not a model override"):
        load_config(_write(tmp_path, {"model": {"overrides": {"cond_drop_prob": 0.2}}}))
    cfg = load_config(_write(tmp_path, {"diffusion": {"cond_drop_prob": 0.3}}))
    assert cfg.network_config().cond_drop_prob == 0.3  # the one place the guidance dropout is set


def test_retired_diffusion_keys_are_refused(tmp_path: Path) -> None:
    for key, value in (("timesteps", 1000), ("schedule", "cosine")):
        with pytest.raises(ConfigError, match=rf"diffusion\.{key} \(line \d+\): Extra inputs are not permitted"):
            load_config(_write(tmp_path, {"diffusion": {key: value}}))


def test_balanced_training_patients_need_the_simulated_default_data(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="balanced_train_patients"):
        load_config(_write(tmp_path, {"data": {"path": "x.h5", "balanced_train_patients": 10}}))
    assert load_config(None, ["data.balanced_train_patients=10"]).data.balanced_train_patients == 10


def test_booleans_and_infinities_are_refused_at_their_key(tmp_path: Path) -> None:
    """pydantic's lax mode read ``max_steps: true`` as 1 step and ``lr: .inf`` as a learning rate."""
    for item, key in (
        ("trainer.max_steps=true", "trainer.max_steps"),
        ("seed=true", "seed"),
        ("optim.lr=true", "optim.lr"),
        ("optim.lr=.inf", "optim.lr"),
        ("trainer.max_minutes=.inf", "trainer.max_minutes"),
        ("loss.logvar_min=.nan", "loss.logvar_min"),
    ):
        with pytest.raises(ConfigError, match=rf"^<defaults>: {key}: ") as ei:
            load_config(None, [item])
        assert "\n" not in str(ei.value)
    assert load_config(None, ["series.enabled=false"]).series.enabled is False  # booleans where a key takes one


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("seed='3'", "seed: expected an integer, got '3' (str)"),
        ("data.batch_size=32.0", "data.batch_size: expected an integer, got 32.0 (float)"),
        ("alerts.nan_patience=1.5", "alerts.nan_patience: expected an integer, got 1.5 (float)"),
        ("series.enabled=1", "series.enabled: expected true or false, got 1 (int)"),
        ("series.enabled=yes please", "series.enabled: expected true or false, got 'yes please' (str)"),
        ("trainer.devices=[0, 0]", "trainer.devices: must be 'auto', a positive int or a non-empty list of distinct"),
    ],
)
def test_values_pydantic_would_convert_are_refused(item: str, expected: str) -> None:
    """The lax mode read ``batch_size: 32.0`` as 32, ``enabled: 1`` as on and ``seed: "3"`` as 3 (hunt 6, #12)."""
    with pytest.raises(ConfigError, match=rf"^<defaults>: {re.escape(expected)}"):
        load_config(None, [item])
    assert load_config(None, ["optim.lr=1e-3"]).optim.lr == pytest.approx(1e-3)  # PyYAML's string '1e-3' is a number
    assert load_config(None, ["trainer.cpu_threads=null"]).trainer.cpu_threads is None


def test_seed_range_and_strategy_are_checked_before_the_run() -> None:
    """Both were tracebacks from Lightning after the run folder was made (seed_everything, the Trainer)."""
    for item in ("seed=-1", f"seed={2**32}"):
        with pytest.raises(ConfigError, match=r"<defaults>: seed: "):
            load_config(None, [item])
    assert load_config(None, [f"seed={2**32 - 1}"]).seed == 2**32 - 1
    with pytest.raises(ConfigError, match=r"trainer\.strategy: unknown strategy 'nonsense'"):
        load_config(None, ["trainer.strategy=nonsense"])
    assert load_config(None, ["trainer.strategy=ddp"]).trainer.strategy == "ddp"


def test_cli_values_are_taken_as_typed() -> None:
    """``--data null`` silently trained on the simulated cohort, and ``--data 'run #1.h5'`` read ``run``."""
    for name in ("null", "run #1.h5", "[x].h5"):
        assert load_config(None, values={"data.path": name}).data.path == name
    with pytest.raises(ConfigError, match="seed is set twice"):  # one value per key (the option used to win)
        load_config(None, ["seed=3"], {"seed": 4})


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("model.overrides.dropout=abc", "dropout: expected a finite number, got 'abc' (str)"),
        ("model.overrides.dropout=.nan", "dropout: expected a finite number, got nan (float)"),
        ("model.overrides.base_channels=abc", "base_channels: expected an integer, got 'abc' (str)"),
        ("model.overrides.base_channels=2.5", "base_channels: expected an integer, got 2.5 (float)"),
        ("model.overrides.base_channels=true", "base_channels: expected an integer, got True (bool)"),
        ("model.overrides.s4_bidirectional=maybe", "s4_bidirectional: expected true or false, got 'maybe' (str)"),
        ("model.overrides.s4_init=3", "s4_init: expected a string, got 3 (int)"),
        ("model.overrides.channel_mults=abc", "channel_mults: expected a list of integers, e.g. [1, 2], got 'abc'"),
        ("model.overrides.latency_center_ms=[a, 4, 6]", "latency_center_ms: expected a list of finite numbers"),
    ],
)
def test_model_overrides_of_the_wrong_type_name_key_value_and_type(item: str, expected: str) -> None:
    """``model.overrides.dropout=abc`` was ``'<=' not supported between instances of 'float' and 'str'``, and
    ``s4_bidirectional: maybe`` was taken as true."""
    with pytest.raises(ConfigError) as ei:
        load_config(None, [item])
    assert str(ei.value).startswith(f"<defaults>: model.overrides: {expected}"), str(ei.value)
    assert "\n" not in str(ei.value)


def test_model_overrides_of_the_right_type_still_pass() -> None:
    items = ["model.overrides={dropout: 0, mlp_ratio: 3, s4_bidirectional: false, s4_init: inv}"]
    items += ["model.overrides.channel_mults=[1, 2, 2, 4]", "model.overrides.latency_center_ms=[1.5, 4, 6.0]"]
    cfg = load_config(None, items)
    assert cfg.model.overrides["dropout"] == 0 and cfg.model.overrides["channel_mults"] == [1, 2, 2, 4]
    assert cfg.network_config().s4_bidirectional is False


def test_train_cli_names_a_wrong_typed_model_override() -> None:
    from typer.testing import CliRunner

    from abrnet.cli.main import app

    res = CliRunner().invoke(app, ["train", "--set", "model.overrides.dropout=abc"])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "model.overrides: dropout: expected a finite number, got 'abc'" in lines[0], res.output


def test_ddp_in_any_spelling_or_chosen_for_several_devices_allows_unused_parameters() -> None:
    """The S4-only warm-up leaves the transformer branches without gradients: only the exact "ddp" got Lightning's
    find-unused-parameters variant, so --devices 2 (strategy auto) or --strategy DDP stopped with a traceback."""
    from abrnet.training.run import trainer_strategy

    ddp = "ddp_find_unused_parameters_true"
    several = [("ddp", 2), ("DDP", 2), ("auto", 2), ("AUTO", 2), ("auto", [0, 1])]
    assert [trainer_strategy(s, d) for s, d in several] == [ddp] * 5
    assert [trainer_strategy(s, d) for s, d in [("auto", 1), ("auto", "auto"), ("auto", [0]), ("fsdp", 2)]] == [
        "auto", "auto", "auto", "fsdp"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("item", "expect"),
    [
        ("trainer.strategy=deepspeed", "DeepSpeed"),
        ("trainer.devices=[0, 1]", "devices"),
        ("trainer.precision=16-mixed", "16-mixed needs a GPU"),
    ],
)
def test_trainer_settings_this_machine_cannot_run_are_one_line_errors(item: str, expect: str, tmp_path) -> None:
    """The config accepts them (valid elsewhere), then Lightning stopped with a traceback, 16-mixed only mid-fit."""
    import torch

    from abrnet.data.schema import DataError
    from abrnet.training.run import build_trainer

    if torch.cuda.is_available():
        pytest.skip("these settings run on a GPU machine")
    cfg = load_config(None, [item, "trainer.accelerator=cpu"])
    with pytest.raises(DataError, match=rf"^config: field 'trainer(\.precision)?': .*{expect}") as info:
        build_trainer(cfg, tmp_path, enable_progress_bar=False)
    assert "\n" not in str(info.value)
