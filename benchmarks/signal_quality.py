"""The signal-quality domain reasons (`abrnet.inference.signal_quality`): their calibration on fresh simulated
cohorts, and which of hunt 14's room/device variants they flag.

* calibration: per-ear medians (low-frequency content, high-band share, noise level) and per-record artifact
  measures on fresh cohorts, 300 patients each (`abrnet simulate --patients 300 --seed S`, mixed protocol, and
  `--protocol fixed --balanced`, plus one mixed balanced and one fixed unbalanced): seeds 101–108 set the bounds
  (never seed 42's training cohort); seeds 201–204 check them, unseen. Reported: the extremes and how many ears /
  records each reason flags.
* hunt 14's variants: its two cohorts (`simulate --patients 6 --protocol fixed --levels 0:80:10 --balanced --seed 3`
  and `--patients 12 ... --seed 11`, 36 ears, 324 records), perturbed exactly as /work/hunt14/batch1–3.py do (same
  generators and seeds, every variant drawn in order), written as the hunt's device-like CSV (patient, ear, age,
  level, rate, samples) and read by `read_for_model`: the share of records and ears each reason flags.
* real fixtures (human recordings): what the reasons say about them.

    python benchmarks/signal_quality.py [--force]
Writes benchmarks/results/signal_quality.json and .md. No model is read: the domain column does not need one.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt, sosfiltfilt

from _common import parse_args, provenance, results_head, write_results
from abrnet.data.schema import ABRCohort, DataError
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference import signal_quality as sq
from abrnet.inference.domain import assess_domain
from abrnet.inference.inputs import read_for_model

FIT = (("mixed", False, 101), ("fixed", True, 102), ("mixed", False, 103), ("fixed", True, 104),
       ("mixed", False, 105), ("fixed", True, 106), ("mixed", True, 107), ("fixed", False, 108))  # fmt: skip
CHECK = (("mixed", False, 201), ("fixed", True, 202), ("mixed", False, 203), ("fixed", True, 204))
REASONS = ("low-frequency content", "band", "stimulus artifact", "noise level", "amplitude", "flat trace")
HUNT_GRID = tuple(float(x) for x in range(0, 81, 10))
FIXTURES = Path("/work/shared/fixtures")
FIXTURE_FILES = {  # human recordings, with the options hunt 14 passed (KG) or none needed
    "epl_abr_peak_analysis/KG_fzmaABR.csv": {"age_years": 30.0, "stimulus_rate_hz": 21.1, "level_db": 80.0,
                                             "ear": "R", "species": "human", "stimulus": "click"},
    "epl_abr_peak_analysis/JLH_Cztip_MLRAEP_1k80R.csv": {"age_years": 30.0, "stimulus_rate_hz": 21.1,
                                                         "level_db": 80.0, "ear": "R", "species": "human"},
    "epl_abr_peak_analysis/JLH_Cztip_MLRAEP_4k80R.csv": {"age_years": 30.0, "stimulus_rate_hz": 21.1,
                                                         "level_db": 80.0, "ear": "R", "species": "human"},
}  # fmt: skip


def measures(c: ABRCohort) -> dict[str, np.ndarray]:
    """Per ear (one value per ear) and per record: what each bound is compared with."""
    x, t = sq.window_samples(c)
    ear = sq.ear_medians(c)
    first = np.unique(c.ear_key.astype(str), return_index=True)[1]  # one record per ear
    early, rest = sq.artifact_uv(x, t)
    return {
        "ear_low_frequency_uv": ear["low_frequency_uv"][first],
        "ear_high_band_share": ear["high_band_share"][first],
        "ear_noise_uv": ear["noise_uv"][first],
        "record_artifact_uv": early,
        "record_artifact_ratio": early / np.maximum(rest, 1e-12),
        "record_artifact_flagged": sq.artifact_rows(x, t),
    }


def flagged(domain: np.ndarray, keys: np.ndarray) -> dict[str, dict[str, float]]:
    """Per reason (and any), the share of records and of ears (an ear counts when any record has it)."""
    ears = np.unique(keys)
    out = {}
    for reason in (*REASONS, "any"):
        names = REASONS if reason == "any" else (reason,)  # any: any signal reason (not species or level unit)
        hit = np.array([any(r in d for r in names) for d in domain.astype(str)])
        out[reason] = {"records": float(hit.mean()), "ears": float(np.mean([hit[keys == e].any() for e in ears]))}
    return out


def calibration() -> dict:
    out = {}
    for group, runs in (("fit", FIT), ("check", CHECK)):
        values: dict[str, list[np.ndarray]] = {}
        domains, keys = [], []
        for protocol, balanced, seed in runs:
            c = simulate_cohort(SimulationConfig(n_patients=300, protocol=protocol, balanced=balanced), seed=seed)
            for k, v in measures(c).items():
                values.setdefault(k, []).append(v)
            domains.append(assess_domain(c))
            keys.append(np.char.add(f"{seed}:", c.ear_key.astype(str)))
        v = {k: np.concatenate(a) for k, a in values.items()}
        dom, key = np.concatenate(domains), np.concatenate(keys)
        out[group] = {
            "cohorts": [f"{p}{' balanced' if b else ''} seed {s}" for p, b, s in runs],
            "ears": len(np.unique(key)),
            "records": len(dom),
            "flagged": flagged(dom, key),
            "extremes": {
                "ear_low_frequency_uv_max": float(np.nanmax(v["ear_low_frequency_uv"])),
                "ear_high_band_share_min": float(np.nanmin(v["ear_high_band_share"])),
                "ear_high_band_share_q001": float(np.nanquantile(v["ear_high_band_share"], 0.001)),
                "ear_high_band_share_undecided": float(np.mean(np.isnan(v["ear_high_band_share"]))),
                "ear_noise_uv_min": float(np.nanmin(v["ear_noise_uv"])),
                "ear_noise_uv_max": float(np.nanmax(v["ear_noise_uv"])),
                "record_artifact_uv_max": float(np.nanmax(v["record_artifact_uv"])),
                "record_artifact_ratio_max": float(np.nanmax(v["record_artifact_ratio"])),
                "record_artifact_both_flagged": int(v["record_artifact_flagged"].sum()),
            },
        }
    return out


def hunt_signals() -> tuple[np.ndarray, list[dict[str, str]]]:
    """(N, 200) µV of hunt 14's 36 ears and each record's CSV metadata (patient A*** / B***, as its lib.py)."""
    rows, parts = [], []
    for prefix, kw, seed in (("A", {"n_patients": 6, "balanced": True}, 3), ("B", {"n_patients": 12}, 11)):
        c = simulate_cohort(SimulationConfig(protocol="fixed", fixed_levels_db=HUNT_GRID, **kw), seed=seed)
        parts.append(np.asarray(c.signals, np.float64))
        for i in range(c.n_records):
            rows.append({"patient_id": prefix + str(c.patient_id[i])[-3:], "ear": str(c.ear[i]),
                         "age_years": f"{c.static[i, 0]:g}", "intensity_db": f"{c.static[i, 1]:g}",
                         "stimulus_rate_hz": f"{c.static[i, 2]:g}"})  # fmt: skip
    return np.vstack(parts), rows


def hunt_variants(x: np.ndarray) -> dict[str, np.ndarray]:
    """hunt 14's batch1–3 perturbations (the ones on samples), drawn in its order from its generators."""
    fs, n = 20_000.0, len(x)
    t = np.arange(x.shape[1]) / fs  # s
    rng = np.random.default_rng(0)
    out = {"base": x}

    def hum(f0: float, amp: float, harm: tuple[float, ...] = (1.0, 0.5, 0.3)) -> np.ndarray:
        ph = rng.uniform(0, 2 * np.pi, size=(n, len(harm)))
        return sum(
            amp * a * np.sin(2 * np.pi * f0 * (h + 1) * t[None, :] + ph[:, h : h + 1]) for h, a in enumerate(harm)
        )

    for f0 in (50, 60):
        for amp in (0.05, 0.2, 0.5):
            out[f"hum{f0}_{amp}"] = x + hum(f0, amp)
    for amp in (0.5, 2.0):
        sign = rng.choice([-1, 1], size=(n, 1))
        out[f"drift_{amp}"] = x + sign * amp * (t[None, :] / t[-1] - 0.5)
    for amp in (0.3, 1.0):
        f, ph = rng.uniform(40, 80, size=(n, 1)), rng.uniform(0, 2 * np.pi, size=(n, 1))
        out[f"slow_{amp}"] = x + amp * np.sin(2 * np.pi * f * t[None, :] + ph)
    for amp in (5.0, 30.0):
        out[f"artifact_ring_{amp}"] = x + amp * np.exp(-t / 2e-4) * np.sin(2 * np.pi * 3000 * t) * (t < 1e-3)
    out["artifact_clipped_sat"] = x + np.where(t < 8e-4, 25.0, 0.0)[None, :]
    for c in (0.25, 0.15):
        out[f"clip_{c}"] = np.clip(x, -c, c)
    for name, g in (("units_nV", 1e3), ("units_V", 1e-6), ("units_mV", 1e-3), ("gain_x10", 10.0), ("gain_x0.1", 0.1),
                    ("gain_x3", 3.0), ("gain_x0.3", 0.3), ("gain_x0.5", 0.5), ("gain_x0.7", 0.7), ("gain_x1.5", 1.5),
                    ("gain_x2.0", 2.0)):  # fmt: skip
        out[name] = x * g
    for lo, hi, causal in (
        (30, 1500, False),
        (100, 3000, True),
        (30, 1500, True),
        (300, 3000, False),
        (150, 1500, True),
    ):
        sos = butter(2, [lo, hi], btype="band", fs=fs, output="sos")
        out[f"filt_{lo}_{hi}" + ("_causal" if causal else "")] = (sosfilt if causal else sosfiltfilt)(sos, x, axis=1)
    return out


def write_device_csv(path: Path, meta: list[dict[str, str]], x: np.ndarray) -> Path:
    """hunt 14's `lib.write`: metadata columns and samples only (no labels, FMP, buffers, rate or t0)."""
    cols = list(meta[0])
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols + [f"s{i}" for i in range(x.shape[1])])
        for m, row in zip(meta, x, strict=True):
            w.writerow([m[c] for c in cols] + [f"{v:.6g}" for v in row])
    return path


def hunt_table() -> dict:
    x, meta = hunt_signals()
    keys = np.array([f"{m['patient_id']}/{m['ear']}" for m in meta])
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, y in hunt_variants(x).items():
            cohort, _ = read_for_model(write_device_csv(Path(tmp) / f"{name}.csv", meta, y))
            out[name] = flagged(cohort.extras["domain"], keys)
    return out


def fixture_table() -> dict:
    out = {}
    for rel, options in FIXTURE_FILES.items():
        path = FIXTURES / rel
        if not path.exists():
            continue
        try:
            cohort, _ = read_for_model(path, **options)
        except DataError as err:
            out[rel] = {"records": 0, "domain": {f"not read: {err}": 0}}
            continue
        values, counts = np.unique(cohort.extras["domain"].astype(str), return_counts=True)
        out[rel] = {
            "records": int(cohort.n_records),
            "domain": dict(zip(values.tolist(), counts.tolist(), strict=True)),
        }
    return out


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %" if v else "0"


def markdown(meta: dict, result: dict) -> str:
    lines = results_head("Signal-quality domain reasons: calibration and hunt 14's variants", meta)
    b = result["bounds"]
    lines += [
        f"Bounds (`abrnet.inference.signal_quality`): low-frequency content ≤ {b['max_low_frequency_uv']} µV (ear "
        f"median; 1–10 ms for records with an artifact); high-band share ≥ {b['min_high_band_share']} (pooled over "
        f"the ear's noise-like records); stimulus artifact > {b['max_artifact_uv']} µV and > "
        f"{b['min_artifact_ratio']}× the rest; noise level {b['noise_range_uv'][0]}–{b['noise_range_uv'][1]} µV (ear "
        "median, last 1.5 ms).",
        "",
        "## Calibration on fresh simulated cohorts (300 patients each)",
        "",
        "| set | cohorts | ears | records | max LF µV | min high-band share (undecided) | noise µV | max artifact µV "
        "(ratio) | ears flagged (any signal reason) | records flagged |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group, c in result["calibration"].items():
        e = c["extremes"]
        lines.append(
            f"| {group} | {'; '.join(c['cohorts'])} | {c['ears']} | {c['records']} | "
            f"{e['ear_low_frequency_uv_max']:.3f} | {e['ear_high_band_share_min']:.3f} "
            f"(0.1 %: {e['ear_high_band_share_q001']:.3f}; undecided {_pct(e['ear_high_band_share_undecided'])}) | "
            f"{e['ear_noise_uv_min']:.4f}–{e['ear_noise_uv_max']:.3f} | "
            f"{e['record_artifact_uv_max']:.2f} ({e['record_artifact_ratio_max']:.2f}) | "
            f"{c['flagged']['any']['ears'] * c['ears']:.0f} | {c['flagged']['any']['records'] * c['records']:.0f} |"
        )
    lines += ["", "## Hunt 14's variants: share of records / ears flagged, by reason", "",
              "| variant | any | " + " | ".join(REASONS) + " |", "|---" * (len(REASONS) + 2) + "|"]  # fmt: skip
    for name, f in result["hunt"].items():
        cells = [f"{_pct(f[r]['records'])} / {_pct(f[r]['ears'])}" for r in ("any", *REASONS)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Real fixtures (human)", "", "| file | records | domain (count) |", "|---|---|---|"]
    for name, f in result["fixtures"].items():
        doms = "<br>".join(f"{k} ({v})" for k, v in f["domain"].items())
        lines.append(f"| {name} | {f['records']} | {doms} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]), "signal_quality")
    result = {
        **provenance(),
        "bounds": {
            "max_low_frequency_uv": sq.MAX_LOW_FREQUENCY_UV,
            "min_high_band_share": sq.MIN_HIGH_BAND_SHARE,
            "max_artifact_uv": sq.MAX_ARTIFACT_UV,
            "min_artifact_ratio": sq.MIN_ARTIFACT_RATIO,
            "noise_range_uv": list(sq.NOISE_RANGE_UV),
        },
        "calibration": calibration(),
        "hunt": hunt_table(),
        "fixtures": fixture_table(),
    }
    write_results("signal_quality", result, markdown(provenance(), result), force=args.force, keep="## Reading")


if __name__ == "__main__":
    main()
