"""What the benchmarks share: reading the arguments (with --force), refusing to replace committed results, the
provenance header and writing each results table (`<stem>.json` and `.md`); and what those that need a trained
model read (validation samples and cohorts, the heads' predictions)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable

    import numpy as np

    from abrnet.data.schema import ABRCohort
    from abrnet.inference.checkpoint import LoadedModel
    from abrnet.models.predictions import Predictions


# The per-ear validation cohorts choices are read on (config_choice.md): fresh, class-balanced, never the test split
# or the evaluation's fixed cohort. Name → (protocol, seed offset from the model's seed).
VALIDATION_COHORTS: dict[str, tuple[str, int]] = {
    "fixed": ("fixed", 30_011), "fixed 2": ("fixed", 60_011), "mixed": ("mixed", 40_011), "mixed 2": ("mixed", 70_011),
}  # fmt: skip


def validation_cohorts(seed: int, patients: int) -> dict[str, ABRCohort]:
    """The VALIDATION_COHORTS of a model trained with `seed`, `patients` patients each."""
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    return {
        name: simulate_cohort(SimulationConfig(n_patients=patients, balanced=True, protocol=protocol),
                              seed=seed + offset)
        for name, (protocol, offset) in VALIDATION_COHORTS.items()
    }  # fmt: skip


RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(
    ap: argparse.ArgumentParser, results: str | Callable[[argparse.Namespace], str | Iterable[Path]] | None = None
) -> argparse.Namespace:
    """`ap`'s arguments plus the --force every benchmark takes: the results in benchmarks/results are committed (a
    GPU run's figures cannot be measured again on any machine), so one is replaced only when asked (`make bench`
    asks: it is the deliberate regeneration).

    `results` names what the benchmark will write, checked (`check_results`) as soon as the arguments are read, so
    that a refusal comes before minutes of measuring: a results stem (its `result_paths`), or a function of the
    arguments returning a stem or the paths themselves, where they depend on the arguments."""
    ap.add_argument("--force", action="store_true", help="replace existing results files in benchmarks/results/")
    args = ap.parse_args()
    planned = results(args) if callable(results) else results
    if planned is not None:
        check_results(*(result_paths(planned) if isinstance(planned, str) else planned), force=args.force)
    return args


def refuse(source: str | Path, message: str, field: str | None = None) -> NoReturn:
    """Stop a benchmark as the `abrnet` CLI refuses bad input: one line ``error: <source>: [field '<field>': ]
    <message>`` on stderr (`abrnet.cli.common.print_error`) and exit code 2. Why: the scripts ended with
    ``sys.exit(text)``, exit code 1, the code of a crash, where the CLI says 2 for the same kind of refusal."""
    from abrnet.cli.common import EXIT_USER_ERROR, print_error
    from abrnet.data.schema import DataError

    print_error(str(DataError(str(source), field, message)) if field is not None else f"{source}: {message}")
    raise SystemExit(EXIT_USER_ERROR)


def check_results(*paths: Path, force: bool) -> None:
    """Exit (`refuse`) naming the first of `paths` that exists, unless --force: called before measuring, so minutes
    of work are not thrown away, and again just before writing."""
    if force:
        return
    for path in paths:
        if Path(path).exists():
            refuse(path, "file exists; pass --force to overwrite it")


def write_files(texts: dict[Path, str], *, force: bool) -> None:
    """Write each text to its path, every path checked (`check_results`) before any is written."""
    check_results(*texts, force=force)
    for path, text in texts.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)


def result_paths(stem: str, folder: Path | None = None) -> tuple[Path, Path]:
    """`<folder>/<stem>.json` and `.md` (folder: benchmarks/results): what `write_results` writes."""
    folder = RESULTS if folder is None else Path(folder)
    return folder / f"{stem}.json", folder / f"{stem}.md"


def kept_section(path: Path, heading: str) -> str:
    """What the existing `path` holds from `heading` on (a hand-written reading of the numbers, kept when a table is
    regenerated), or "" when there is none."""
    return "".join(path.read_text().partition(heading)[1:]) if path.exists() else ""


def require_checkpoint(*paths: Path) -> None:
    """Exit (`refuse`) naming the first checkpoint the benchmark measures that is missing."""
    for path in paths:
        if not path.exists():
            refuse(path, "no such checkpoint; train one (abrnet train --out runs/default) or pass --checkpoint")


def device_name(device: str) -> str:
    """ "cpu" or the GPU's name, for the results table."""
    import torch

    return torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"


def provenance() -> dict[str, str | int]:
    """Where a result came from (the command as typed, when, on what), stored in every benchmark's JSON and table.

    A number without its command, machine and date cannot be reproduced or compared, and a stale table looks
    exactly like a fresh one.
    """
    import os
    import platform
    import shlex
    import time

    import torch

    return {
        # quoted as a shell reads it: `--names "stop 41 (AVX-512)"` was recorded unquoted and could not be re-run
        "command": shlex.join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def results_head(title: str, meta: dict, note: str = "") -> list[str]:
    """A results table's first lines: `# title`, and under it the provenance (`meta` holds `provenance()`'s keys)
    as one line, `note` appended to it."""
    line = (
        f"`{meta['command']}`: {meta['date']}, {meta['machine']}, Python {meta['python']}, torch {meta['torch']}, "
        f"{meta['torch_threads']} torch thread(s)."
    )
    return [f"# {title}", "", f"{line} {note}" if note else line, ""]


def validation_sample(loaded: LoadedModel, n_records: int) -> ABRCohort:
    """A seeded (seed 0) sample of `n_records` records of the checkpoint's VALIDATION split: what the analyses that
    choose or explain read, never the test split."""
    import numpy as np

    from abrnet.evaluation.evaluate import split_of
    from abrnet.training.cohort_source import model_training_cohort

    val = split_of(loaded, model_training_cohort(loaded), "val")
    rows = np.random.default_rng(0).choice(val.n_records, min(n_records, val.n_records), replace=False)
    return val.subset(np.sort(rows))


def analysis_predictions(loaded: LoadedModel, cohort: ABRCohort) -> Predictions:
    """The heads at t = 0 on every record (no denoising, no reconstruction): what a per-record or per-ear analysis
    reads; one pass serves both the records and the series stage."""
    from abrnet.inference.predictor import predict_cohort

    return predict_cohort(
        loaded.model, cohort, loaded.normalizer, prediction_type=loaded.prediction_type,
        with_denoise=False, with_reconstruction=False,
    )  # fmt: skip


def p_wave_v(loaded: LoadedModel, cohort: ABRCohort) -> np.ndarray:
    """(N,) wave V presence probability of each record, network alone (no denoising, no series stage)."""
    import numpy as np

    return np.asarray(analysis_predictions(loaded, cohort).peak_presence_prob[:, 2], np.float64)


def write_results(
    stem: str,
    result: dict,
    markdown: str,
    *,
    force: bool = False,
    folder: Path | None = None,
    keep: str = "",
    echo: bool = True,
) -> None:
    """`<stem>.json` (`result`; numpy scalars as floats) and `<stem>.md` (`markdown`, then the existing table's
    section from the heading `keep` on, when given) in `folder` (benchmarks/results), an existing one only with
    `force`, neither written unless both may be; `echo`: the table on stdout too."""
    import json

    js, md = result_paths(stem, folder)
    text = markdown + (kept_section(md, keep) if keep else "")
    write_files({js: json.dumps(result, indent=2, default=float) + "\n", md: text}, force=force)
    if echo:
        print(markdown)


def dotted_get(d: dict, path: str) -> Any:
    """The value at a dotted path of nested dicts ("fixed_protocol.per_ear.threshold.mae_db"), None where absent."""
    node: Any = d
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def validation_choice(path: Path) -> dict:
    """The sampler settings `abrnet evaluate --generation` chose (``selection.chosen`` of its generation.json);
    exits when they were chosen on any split but validation, since the benchmarks must not inherit a test choice."""
    import json

    sel = json.loads(path.read_text())["selection"]
    if sel["split"] != "val":
        refuse(path, f"chose its settings on {sel['split']!r}, not on val", field="selection.split")
    return sel["chosen"]
