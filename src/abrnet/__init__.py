"""abrnet: read, analyse and synthesise Auditory Brainstem Responses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "load"]

if TYPE_CHECKING:
    from abrnet.inference.api import load


def __getattr__(name: str) -> Any:
    """Lazy `abrnet.load`: importing abrnet must stay light (no torch) until a model is actually used."""
    if name == "load":
        from abrnet.inference.api import load

        return load
    raise AttributeError(f"module 'abrnet' has no attribute {name!r}")
