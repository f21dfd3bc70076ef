"""Import speed per format: files/s and records/s of `read_recording` (parse + validate, native grid, no resampling).

Usage: .venv/bin/python benchmarks/import_speed.py [--repeats 5]
Reads every recording fixture in ../shared/fixtures (by detected format) and, for formats without a fixture,
files written from their published layout (tests/_arf_writer.py). Writes benchmarks/results/import.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _common import parse_args, provenance, results_head, write_results

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
OPTIONS = {"age_years": 1.0, "stimulus_rate_hz": 21.0, "level_db": 80.0}


def _generated(folder: Path) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from tests._arf_writer import abr_like, write_arf, write_biosig_csv

    from abrnet.data.csv_io import write_wide_csv
    from abrnet.data.io import save_cohort
    from abrnet.data.simulate import SimulationConfig, simulate_cohort

    recs = [(f, lv, abr_like(244, 24414.0625) * 1e-6) for f in (8e3, 16e3) for lv in range(90, 0, -10)]
    rows = [(f, lv, x * 1e6) for f, lv, x in recs]
    sim = simulate_cohort(SimulationConfig(n_patients=4), seed=0)
    return [
        write_arf(folder / "rz.arf", recs, rz=True),
        write_arf(folder / "rp.arf", recs, rz=False),
        write_biosig_csv(folder / "biosig.csv", rows, lead=("SGI", "Rec No.")),
        write_wide_csv(sim, folder / "wide.csv"),
        save_cohort(sim, folder / "sim.h5"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = parse_args(ap, "import")
    from abrnet.data.importers import detect_format, read_recording
    from abrnet.data.schema import DataError

    with tempfile.TemporaryDirectory() as tmp:
        files = sorted(p for p in FIXTURES.rglob("*") if p.is_file()) + _generated(Path(tmp))
        stats: dict[str, dict[str, float]] = defaultdict(lambda: {"files": 0, "records": 0, "seconds": 0.0})
        for path in files:
            try:
                kind = detect_format(path)
                read_recording(path, kind, **({} if kind in ("h5", "csv") else OPTIONS))  # warm-up / validity
            except DataError:
                continue  # licences, analysis files, out-of-range levels: not recordings this benchmark reads
            start = time.perf_counter()
            for _ in range(args.repeats):
                c = read_recording(path, kind, **({} if kind in ("h5", "csv") else OPTIONS))
            s = stats[kind]
            s["seconds"] += time.perf_counter() - start
            s["files"] += args.repeats
            s["records"] += args.repeats * c.n_records
    rows = {
        k: {**v, "files_per_s": v["files"] / v["seconds"], "records_per_s": v["records"] / v["seconds"]}
        for k, v in sorted(stats.items())
    }
    result = {
        **provenance(),
        "repeats": args.repeats,
        "by_format": rows,
    }
    lines = [
        *results_head("Import speed (`read_recording`: parse + validate, native grid)", result),
        f"Every file read {args.repeats}× after a warm-up read.",
        "",
        "| format | files read | records | files/s | records/s |",
        "|---|---|---|---|---|",
        *(
            f"| {k} | {r['files']} | {r['records']} | {r['files_per_s']:.1f} | {r['records_per_s']:.0f} |"
            for k, r in rows.items()
        ),
    ]
    write_results("import", result, "\n".join(lines) + "\n", force=args.force)


if __name__ == "__main__":
    main()
