"""A training config's key paths: ``optim.lr=0.1`` overrides put into the raw tree, and pydantic's errors said as
one line of key paths (with the file line or the option a value came from).

Why its own module: `train_config` holds the config's sections and `load_config`; these helpers are the text side
of it (also `training.run_folder`'s, which reports a stored config's errors), and kept the module under the
400-line limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pydantic
import yaml

from abrnet.config.yaml_loader import KEEPS_LAST, DuplicateKeyError, load_unique


class ConfigError(ValueError):
    """A one-line, user-facing configuration problem naming the file and the key path(s)."""


def format_validation_error(
    exc: pydantic.ValidationError, lines: Mapping[str, int] | None = None, typed: Mapping[str, str] | None = None
) -> str:
    """One line: ``key.path: message; other.key: message`` (union/type tags dropped from the path), with
    ``key.path (line 2)`` where `lines` knows the line the key was written on (`yaml_loader.load_with_lines`), and
    ``field '--seed'`` where `typed` says the value was typed as that option (`load_config`'s ``option_names``)."""
    items = []
    for err in exc.errors():
        loc = error_loc(err)
        msg = str(err["msg"]).replace("\n", " ")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if typed and loc in typed:
            where = f"field '{typed[loc]}'"
        else:
            where = f"{loc} (line {lines[loc]})" if lines and loc in lines else loc
        items.append(f"{where}: {msg}" if loc else msg)
    return "; ".join(items)


def error_loc(err: Any) -> str:
    """A pydantic error's key path, ``optim.lr`` (union and validator tags dropped)."""
    return ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function"))))


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set ``a.b.c=value`` (value parsed as YAML) in a nested dict, creating sections as needed."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected key.path=value")
    key, _, text = item.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {item!r}: empty key")
    try:
        value = load_unique(text)
    except DuplicateKeyError as exc:  # its line is the override's, always 1: name the key path instead
        raise ConfigError(f"override {item!r}: {'.'.join(parts)}.{exc.path}: duplicate key; {KEEPS_LAST}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from None
    set_key(raw, parts, value, item)


def set_key(raw: dict[str, Any], parts: Sequence[str], value: Any, item: str) -> None:
    """Put `value` at the key path `parts`, creating sections as needed (`item` names the override in errors)."""
    node = raw
    for p in parts[:-1]:
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {p} is not a section")
        node = child
    node[parts[-1]] = value
