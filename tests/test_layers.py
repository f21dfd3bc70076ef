"""The package graph runs one way: a module may import its own layer or a lower one, never a higher one.

Module-level and function-level imports alike (the check walks every node of every file), so a cycle cannot hide
inside a function. The order is the one drawn in docs/architecture.md.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "abrnet"
LAYERS = (
    "constants", "data", "models", "diffusion", "config", "series", "metrics", "plots",
    "inference", "training", "evaluation", "viewer", "cli",
)  # fmt: skip
TOP = len(LAYERS)  # abrnet/__init__.py and __main__.py: the package's face, above every layer


def _layer_of(parts: tuple[str, ...]) -> int:
    """Rank of a module given its path parts under abrnet (``("data", "io.py")`` → rank of "data")."""
    head = parts[0].removesuffix(".py")
    if head in ("__init__", "__main__"):
        return TOP
    return LAYERS.index(head)


def _imported_abrnet_modules(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) for every abrnet import in the file, relative ones resolved."""
    package = path.relative_to(SRC.parent).with_suffix("").parts[:-1]  # ("abrnet", "data", ...)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join((*base, node.module) if node.module else base)
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return [(n, line) for n, line in found if n == "abrnet" or n.startswith("abrnet.")]


def _upward_imports() -> list[str]:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        rank = _layer_of(path.relative_to(SRC).parts)
        for name, line in _imported_abrnet_modules(path):
            target = name.split(".")[1:]
            target_rank = TOP if not target else _layer_of((target[0],))
            if target_rank > rank:
                bad.append(f"{path.relative_to(SRC)}:{line} imports {name}")
    return bad


def test_every_package_is_in_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py")} - {"__init__", "__main__"}
    assert packages | modules <= set(LAYERS), sorted((packages | modules) - set(LAYERS))


def test_no_upward_import() -> None:
    assert _upward_imports() == []


def test_the_check_sees_function_level_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker must catch an upward import hidden inside a function (as the old code had)."""
    fake = tmp_path / "abrnet"
    (fake / "models").mkdir(parents=True)
    (fake / "models" / "net.py").write_text("def f():\n    from abrnet.inference.api import load\n    return load\n")
    (fake / "data").mkdir()
    (fake / "data" / "io.py").write_text("from ..models import net\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", fake)
    assert _upward_imports() == ["data/io.py:1 imports abrnet.models", "models/net.py:2 imports abrnet.inference.api"]


def test_no_python_file_over_400_lines() -> None:
    """The size rule covers the package, its tests and the benchmarks alike."""
    root = SRC.parents[1]
    files = [p for d in (SRC, root / "tests", root / "benchmarks") for p in sorted(d.rglob("*.py"))]
    assert len(files) > 100 and any(p.name == "test_layers.py" for p in files)  # the walk found the folders
    long = {str(p.relative_to(root)): n for p in files if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_cli_help_does_not_import_torch() -> None:
    """`abrnet --help` answers in well under a second: the CLI imports the heavy stack only inside commands."""
    code = "import sys, abrnet.cli.main; heavy = {'torch', 'lightning', 'matplotlib'} & set(sys.modules); print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "set()"


def test_loading_the_shipped_model_does_not_import_lightning() -> None:
    """Inference needs no training loop: `abrnet.load` imported Lightning through the config's strategy check."""
    code = "import sys, abrnet; abrnet.load(); print(sorted(m for m in sys.modules if m.startswith('lightning')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_evaluation_does_not_import_lightning() -> None:
    """Scoring a model trains nothing: `abrnet evaluate` loaded Lightning (seconds) through the run folder's
    same-data check, whose module also held the Lightning callback that records the data file's SHA-256."""
    code = "import sys, abrnet.evaluation.evaluate; print(sorted(m for m in sys.modules if m.startswith('lightning')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
