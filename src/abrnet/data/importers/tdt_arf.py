"""TDT BioSigRZ / BioSigRP ``.arf`` binary files, laid out as ABRA's ``arfread`` reads them (ucsdmanorlab/abranalysis,
``arfread.py`` / ``utils/processFiles.py``, ported from TDT's MATLAB ``arfread.m``). Little-endian throughout.

* file header (8810 bytes): ``ftype`` int16, ``ngrps`` int16, ``nrecs`` int16, ``grpseek`` 200 × int32 (byte offset
  of each group), ``recseek`` 2000 × int32, ``file_ptr`` int32.
* group header at ``grpseek[g]``: ``grpn, frecn, nrecs`` int16; ``ID, ref1, ref2`` 16 bytes; ``memo`` 50 bytes;
  ``beg_t, end_t`` (int64 in RZ files, uint32 in RP files); ``sgfname1, sgfname2`` 100 bytes; ``VarName1..10``
  15 bytes; ``VarUnit1..10`` 5 bytes; ``SampPer_us`` float32; ``cc_t`` int32; ``version`` int16; ``postproc``
  int32; ``dump`` 92 bytes; then the group's records, back to back.
* record: ``recn, grpid`` int16; ``grp_t`` (int64 RZ / uint32 RP); ``newgrp, sgi`` int16; ``chan`` uint8; ``rtype``
  1 byte; ``npts`` (uint16 RZ / int16 RP); ``osdel, dur_ms, SampPer_us, artthresh, gain`` float32; ``accouple,
  navgs, narts`` int16; ``beg_t, end_t`` (int64 RZ / uint32 RP); ``Var1..10`` float32; 10 cursors × 36 bytes;
  ``npts`` float32 samples in volts.

RZ or RP: the file does not say; both layouts are tried and the one whose records fit the file exactly is used
(ABRA asks the user, falling back to RP when RZ fails). Values: volts → µV (ABRA multiplies by 1e6).
Variables: ``VarName`` fields naming a frequency (``freq``) and a level (``lev``/``db``/``att``) are used when
present; otherwise ABRA's convention: a tone file has Var1 = frequency (Hz), Var2 = level; a click file (pass
``stimulus="click"``) has Var1 = level. Levels are dB SPL (ABRA's unit) unless the level variable is an
attenuation. One record per (frequency, level); t0 = 0 (``osdel`` is kept in ``attrs``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from abrnet.data.importers._common import build_cohort, note_override
from abrnet.data.metadata import DB_ATTENUATION, DB_SPL
from abrnet.data.schema import ABRCohort, DataError

FILE_HEADER = np.dtype(
    [("ftype", "<i2"), ("ngrps", "<i2"), ("nrecs", "<i2"), ("grpseek", "<i4", 200), ("recseek", "<i4", 2000),
     ("file_ptr", "<i4")]
)  # fmt: skip


def _group_dtype(rz: bool) -> np.dtype:
    t = "<i8" if rz else "<u4"
    return np.dtype(
        [("grpn", "<i2"), ("frecn", "<i2"), ("nrecs", "<i2"), ("ID", "S16"), ("ref1", "S16"), ("ref2", "S16"),
         ("memo", "S50"), ("beg_t", t), ("end_t", t), ("sgfname1", "S100"), ("sgfname2", "S100"),
         ("VarName", "S15", 10), ("VarUnit", "S5", 10), ("SampPer_us", "<f4"), ("cc_t", "<i4"), ("version", "<i2"),
         ("postproc", "<i4"), ("dump", "S92")]
    )  # fmt: skip


def _record_dtype(rz: bool) -> np.dtype:
    t = "<i8" if rz else "<u4"
    return np.dtype(
        [("recn", "<i2"), ("grpid", "<i2"), ("grp_t", t), ("newgrp", "<i2"), ("sgi", "<i2"), ("chan", "u1"),
         ("rtype", "S1"), ("npts", "<u2" if rz else "<i2"), ("osdel", "<f4"), ("dur_ms", "<f4"),
         ("SampPer_us", "<f4"), ("artthresh", "<f4"), ("gain", "<f4"), ("accouple", "<i2"), ("navgs", "<i2"),
         ("narts", "<i2"), ("beg_t", t), ("end_t", t), ("Var", "<f4", 10), ("cursors", "V360")]
    )  # fmt: skip


def looks_like_arf(head: bytes, size: int) -> bool:
    """Content test used by `detect_format`: a plausible ARF file header (binary, groups inside the file)."""
    if len(head) < 6 + 4 or size < FILE_HEADER.itemsize or b"\x00" not in head[:64]:
        return False
    ngrps, nrecs = np.frombuffer(head[2:6], "<i2")
    first = int(np.frombuffer(head[6:10], "<i4")[0])
    return 0 < ngrps <= 200 and 0 <= nrecs <= 2000 and FILE_HEADER.itemsize <= first < size


def _parse(buf: bytes, rz: bool, src: str) -> list[tuple[np.void, list[tuple[np.void, np.ndarray]]]]:
    head = np.frombuffer(buf, FILE_HEADER, count=1)[0]
    gdt, rdt = _group_dtype(rz), _record_dtype(rz)
    groups = []
    for g in range(int(head["ngrps"])):
        pos = int(head["grpseek"][g])
        if pos < FILE_HEADER.itemsize or pos + gdt.itemsize > len(buf):
            raise DataError(src, f"group {g + 1}", f"offset {pos} outside the file ({len(buf)} bytes)")
        grp = np.frombuffer(buf, gdt, count=1, offset=pos)[0]
        pos += gdt.itemsize
        recs = []
        for r in range(int(grp["nrecs"])):
            if pos + rdt.itemsize > len(buf):
                raise DataError(src, f"group {g + 1} record {r + 1}", "header runs past the end of the file")
            rec = np.frombuffer(buf, rdt, count=1, offset=pos)[0]
            pos += rdt.itemsize
            npts = int(rec["npts"])
            if npts < 1 or pos + 4 * npts > len(buf):
                raise DataError(src, f"group {g + 1} record {r + 1}", f"{npts} samples do not fit in the file")
            recs.append((rec, np.frombuffer(buf, "<f4", count=npts, offset=pos)))
            pos += 4 * npts
        if g + 1 < int(head["ngrps"]) and pos != int(head["grpseek"][g + 1]):
            raise DataError(src, f"group {g + 1}", "records do not end where the next group starts")
        groups.append((grp, recs))
    return groups


def _text(b: bytes) -> str:
    return b.split(b"\x00", 1)[0].decode("latin-1").strip()


def read_tdt_arf(
    path: str | Path,
    *,
    age_years: float | None = None,
    stimulus_rate_hz: float | None = None,
    ear: str | None = None,
    fmp: float | None = None,
    variant: str = "auto",
    stimulus: str | None = None,
) -> ABRCohort:
    """One record per ARF record, in file order; ``variant`` is "auto", "RZ" or "RP"."""
    path = Path(path)
    src = str(path)
    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        raise DataError(src, "<file>", "file not found") from None
    if not looks_like_arf(buf[:4096], len(buf)):
        raise DataError(src, "<format>", "not a TDT .arf file (implausible group count or offsets in the header)")
    tries = {"auto": (True, False), "rz": (True,), "rp": (False,)}.get(variant.lower())
    if tries is None:
        raise DataError(src, "variant", f"must be auto, RZ or RP, got {variant!r}")
    errors = []
    for rz in tries:
        try:
            groups, kind = _parse(buf, rz, src), "BioSigRZ" if rz else "BioSigRP"
            break
        except DataError as exc:
            errors.append(str(exc))
    else:
        raise DataError(src, "<format>", "fits neither the RZ nor the RP layout: " + errors[-1].split(": ", 2)[-1])
    recs = [(grp, rec, data) for grp, rs in groups for rec, data in rs]
    if not recs:
        raise DataError(src, "nrecs", "the file holds no records")
    npts = {len(d) for _, _, d in recs}
    periods = {float(rec["SampPer_us"]) for _, rec, _ in recs}
    if len(npts) != 1 or len(periods) != 1:
        raise DataError(src, "npts", f"records differ in length or sampling period ({sorted(npts)}, {sorted(periods)})")
    period = periods.pop()
    if not (math.isfinite(period) and period > 0):
        raise DataError(src, "SampPer_us", f"sampling period must be > 0, got {period}")
    names = [_text(n).lower() for n in recs[0][0]["VarName"]]
    var = np.array([rec["Var"] for _, rec, _ in recs], np.float64)
    f_idx = next((j for j, n in enumerate(names) if "freq" in n), None)
    l_idx = next((j for j, n in enumerate(names) if any(k in n for k in ("lev", "db", "att"))), None)
    click = (stimulus or "").lower() == "click"
    if l_idx is None:
        f_idx, l_idx = (None, 0) if click else (0, 1)
        mapping = "ABRA convention: " + ("Var1 = level (click)" if click else "Var1 = frequency, Var2 = level")
    else:
        mapping = f"VarName: level = Var{l_idx + 1}" + ("" if f_idx is None else f", frequency = Var{f_idx + 1}")
    # a rate series steps the repetition rate as a variable: each record keeps its own (a passed rate overrides all)
    r_idx = next((j for j, n in enumerate(names) if "rate" in n and j not in (f_idx, l_idx)), None)
    rates = var[:, r_idx] if r_idx is not None and stimulus_rate_hz is None else stimulus_rate_hz
    overridden: dict[str, str | float | int] = {}  # a passed rate differing from the file's: kept, and warned about
    if r_idx is not None:
        mapping += f", stimulus rate = Var{r_idx + 1}" + ("" if stimulus_rate_hz is None else " (overridden)")
        note_override(overridden, "stimulus_rate_hz", var[:, r_idx].tolist(), stimulus_rate_hz)
    freq = var[:, f_idx] if f_idx is not None else np.full(len(recs), np.nan)
    tone = np.isfinite(freq) & (freq > 0) & (not click)
    attrs: dict[str, str | float | int] = {
        "format": "tdt_arf",
        "arf_variant": kind,
        "units_in_file": "V",
        "var_mapping": mapping,
        "onset_delay_ms": float(recs[0][1]["osdel"]),
        "averages": ";".join(str(int(rec["navgs"])) for _, rec, _ in recs),
        **overridden,
    }
    level_unit = DB_ATTENUATION if l_idx is not None and "att" in names[l_idx] else DB_SPL
    cohort = build_cohort(
        path,
        np.stack([d for _, _, d in recs]).astype(np.float64) * 1e6,
        var[:, l_idx],
        sampling_rate_hz=1e6 / period,
        t0_ms=0.0,
        age_years=age_years,
        stimulus_rate_hz=rates,
        ear=ear,
        fmp=fmp,
        attrs=attrs,
        metadata={"level_unit": level_unit, "stimulus": "click" if click else None},
    )
    if not click:
        cohort.extras["stimulus"] = np.where(tone, "tone_pip", "unknown").astype(str)
        cohort.extras["stimulus_freq_hz"] = np.where(tone, freq, np.nan)
    return cohort
