"""Ears are grouped once (`data.grouping.group_indices` over `ABRCohort.ear_key`) and a wave is present by one rule
(`constants.is_present`).

Why: the viewer built its own "patient/ear" key and scanned every record per ear, series.csv parsed the ear back out
of the key, and the metrics cut presence at ``> 0.5`` where results.csv used ``>= 0.5``. Patient ids can hold '/'
(importers name records like ``mouse1/8 kHz waveform``), so here they do, and the rows are out of key order.
"""

from __future__ import annotations

import numpy as np

from abrnet.constants import PRESENCE_THRESHOLD, WAVES, is_present
from abrnet.data.grouping import group_indices
from abrnet.data.schema import ABRCohort
from abrnet.inference.clinical_columns import present_latency
from abrnet.inference.result_tables import PredictionReport, series_columns
from abrnet.series.per_ear import SERIES_FEATURES, aggregate_ears, series_features
from abrnet.viewer.analysis import build_payload
from tests.conftest import make_toy_cohort
from tests.test_predict_tables import _predictions

IDS = ("mouse1/8 kHz waveform", "mouse1", "a/b/L")


def _cohort() -> ABRCohort:
    """Three patients whose ids hold '/', one even ending like an ear; rows shuffled out of key order."""
    cohort = make_toy_cohort(n_patients=len(IDS))
    index = {f"P{p:03d}": name for p, name in enumerate(IDS)}
    cohort.patient_id = np.array([index[str(p)] for p in cohort.patient_id])
    return cohort.subset(np.random.default_rng(0).permutation(cohort.n_records))


def test_viewer_and_series_table_group_ears_as_group_indices() -> None:
    cohort = _cohort()
    level = cohort.static_column("intensity_db")
    pred = _predictions(cohort, np.where(level >= 40, 0.95, 0.02).astype(np.float32))
    ears = aggregate_ears(pred, cohort)
    report = PredictionReport(cohort=cohort, predictions=pred, ears=ears)
    payload = build_payload(report, file_hash="f" * 64, filename="a.csv", source="/srv/a.csv",
                            checkpoint="best.ckpt", model_sha256="a" * 64)  # fmt: skip
    keys, groups = group_indices(cohort.ear_key.astype(str))
    assert [r["ear_key"] for r in payload["records"]] == cohort.ear_key.astype(str).tolist()
    shown = [e["key"] for e in payload["ears"]]  # in the series table's reading order (`series_keys`), not key text
    assert shown == report.series_keys().tolist() and sorted(shown) == sorted(keys.tolist())
    by_key = dict(zip(keys.tolist(), groups, strict=True))
    for e in payload["ears"]:
        rows = by_key[e["key"]]
        assert sorted(e["records"]) == rows.tolist()
        assert (e["patient_id"], e["ear"]) == (str(cohort.patient_id[rows[0]]), str(cohort.ear[rows[0]]))
        assert [payload["records"][i]["intensity_db"] for i in e["records"]] == sorted(level[rows].tolist())[::-1]
    table = series_columns(ears, cohort)
    first = [int(rows[0]) for rows in groups]
    assert table["patient_id"].tolist() == cohort.patient_id[first].astype(str).tolist()
    assert table["ear"].tolist() == cohort.ear[first].astype(str).tolist()


def test_presence_is_one_rule_with_the_cut_included() -> None:
    assert is_present(PRESENCE_THRESHOLD) and not is_present(np.nextafter(PRESENCE_THRESHOLD, 0.0))
    assert is_present(np.array([0.49, 0.5, 0.51])).tolist() == [False, True, True]
    cohort = make_toy_cohort(n_patients=1)
    pred = _predictions(cohort, np.full(cohort.n_records, 0.5, np.float32))  # every record exactly at the cut
    v = WAVES.index("V")
    assert np.isfinite(present_latency(pred)[:, v]).all()  # results.csv: present
    features = series_features(pred, cohort, aggregate_ears(pred, cohort))
    assert features[:, SERIES_FEATURES.index("frac_V")].tolist() == [1.0, 1.0]  # the series stage: present too
