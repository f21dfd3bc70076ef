"""Test helpers writing TDT .arf and BioSigRZ CSV files from their published layouts (ABRA's ``arfread`` field
order, struct by struct; ABRA's example CSV ``Freq(Hz),Level(db),0,1,...``), independent of abrnet's readers."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def _s(text: str, n: int) -> bytes:
    return text.encode()[:n].ljust(n, b"\x00")


def write_arf(
    path: Path,
    records: list[tuple[float, float, np.ndarray]],
    *,
    rz: bool,
    period_us: float = 40.96,
    var_names: tuple[str, ...] = (),
    var3: list[float] | None = None,
) -> Path:
    """One group; each record (var1, var2, samples in volts), ``var3`` a third variable per record; ``var_names``
    the group's VarName fields. RZ: 64-bit times, uint16 npts; RP: 32-bit, int16."""
    t = "q" if rz else "I"
    group = struct.pack("<hhh", 1, 1, len(records)) + _s("ID", 16) + _s("", 16) + _s("", 16) + _s("memo", 50)
    group += struct.pack(f"<{t}{t}", 1700000000, 1700000100) + _s("sgf1", 100) + _s("sgf2", 100)
    names = [*var_names, *[""] * (10 - len(var_names))]
    group += b"".join(_s(n, 15) for n in names) + b"".join(_s("", 5) for _ in range(10))
    group += struct.pack("<fihi", period_us, 0, 1, 0) + _s("", 92)
    recs = b""
    for k, (v1, v2, data) in enumerate(records):
        recs += struct.pack(f"<hh{t}hhBc", k + 1, 1, 1700000000, 0, k, 1, b"A")
        recs += struct.pack("<H" if rz else "<h", len(data))
        recs += struct.pack("<fffffhhh", 0.0, len(data) * period_us / 1000, period_us, 0.0, 20.0, 0, 512, 0)
        recs += struct.pack(f"<{t}{t}", 1700000000, 1700000001)
        v3 = 0.0 if var3 is None else var3[k]
        recs += struct.pack("<10f", v1, v2, v3, *([0.0] * 7)) + b"\x00" * 360
        recs += np.asarray(data, "<f4").tobytes()
    header = struct.pack("<hhh", 0, 1, len(records)) + struct.pack("<200i", 8810, *([0] * 199))
    header += struct.pack("<2000i", *([0] * 2000)) + struct.pack("<i", 0)
    assert len(header) == 8810
    path.write_bytes(header + group + recs)
    return path


def write_biosig_csv(path: Path, rows: list[tuple[float, float, np.ndarray]], *, lead: tuple[str, ...] = ()) -> Path:
    """ABRA's layout: optional leading record fields (e.g. SGI, Rec No.), Freq(Hz), Level(dB), then samples 0..T-1."""
    n = len(rows[0][2])
    lines = [",".join([*lead, "Freq(Hz)", "Level(dB)", *map(str, range(n))])]
    for k, (freq, level, data) in enumerate(rows):
        lines.append(",".join([*(str(k + 1) for _ in lead), f"{freq:g}", f"{level:g}", *(f"{v:.9g}" for v in data)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def abr_like(n: int, fs: float, amp_uv: float = 1.0, seed: int = 0) -> np.ndarray:
    """A wave-V-like bump at 5.6 ms plus a little noise, µV."""
    t = np.arange(n) / fs * 1000.0
    rng = np.random.default_rng(seed)
    return amp_uv * np.exp(-0.5 * ((t - 5.6) / 0.3) ** 2) + 0.02 * rng.standard_normal(n)
