"""Text cells of the CSVs `abrnet predict` writes are shown by a spreadsheet, never run by it.

A patient id such as ``=HYPERLINK(...)`` or ``@SUM(...)`` comes from a user's file; written as is into results.csv it
ran as a formula when a clinician opened the file in Excel. The viewer's export already guarded its cells; the rule
now lives once in `result_tables.spreadsheet_text` and both writers use it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from abrnet.inference.result_tables import column_cells, spreadsheet_text, write_columns_csv
from abrnet.viewer import export

IDS = ["=1+1", "-P3", "-3.5", "@x", "P4", "+1e3", "\tTAB", '=HYPERLINK("http://x","y")']
GUARDED = ["'=1+1", "'-P3", "-3.5", "'@x", "P4", "+1e3", "'\tTAB", "'" + IDS[-1]]


def test_results_csv_guards_formula_text_and_keeps_numbers(tmp_path: Path) -> None:
    n = len(IDS)
    cols = {
        "patient_id": np.array(IDS),  # dtype 'U'
        "ear": np.array(["L", "R"] * (n // 2), dtype=object),  # object str: the per-cell path
        "domain": np.array(["in", "-x", "in", "=y", "in", "in", "in", "in"], dtype=object),
        "threshold_db": np.array([-10.0, 35.5, np.nan, 40.0, 85.0, 0.0, 5.0, -2.5], dtype=np.float32),
        "n_records": np.arange(n, dtype=np.int64) - 3,
        "threshold_above_max_level": np.array([True, False] * (n // 2)),
    }
    out = write_columns_csv(cols, tmp_path / "results.csv")
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["patient_id"] for r in rows] == GUARDED
    assert [r["ear"] for r in rows] == ["L", "R"] * (n // 2)
    assert [r["domain"] for r in rows] == ["in", "'-x", "in", "'=y", "in", "in", "in", "in"]
    assert [r["threshold_db"] for r in rows] == ["-10", "35.5", "", "40", "85", "0", "5", "-2.5"]  # numbers stay
    assert [r["n_records"] for r in rows] == ["-3", "-2", "-1", "0", "1", "2", "3", "4"]
    assert [r["threshold_above_max_level"] for r in rows] == ["1", "0"] * (n // 2)


def test_one_rule_for_predict_and_the_viewer_export() -> None:
    assert [spreadsheet_text(t) for t in IDS] == GUARDED
    assert column_cells(np.array(IDS)) == column_cells(np.array(IDS, dtype=object)) == GUARDED
    assert [export._cell(t) for t in IDS] == GUARDED  # the viewer's CSV cells: the same function, not a copy
    assert export._cell(-3.5) == "-3.5" and export._cell(True) == "true"  # numbers and flags are not text
