"""YAML reading for user-written configs: PyYAML's safe loader, except that a key written twice is an error.

Why: `yaml.safe_load` keeps the last of two equal keys without a word, so a second ``optim:`` section pasted further
down a config dropped the first one's ``lr``, and ``lr:`` written twice kept the second. The check runs on the
composed node tree (before any value is built), where each key still has its line and its place in the document,
so the error can name the key path (``optim.lr``) and the line of the second occurrence. The same walk keeps each
key path's line (`load_with_lines`), so a bad value is reported with the line it was written on.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

KEEPS_LAST = "YAML would keep only the last, so remove one"
MERGE_TAG = "tag:yaml.org,2002:merge"  # ``<<: *base``: a merge, whose keys an explicit key may override


class DuplicateKeyError(yaml.YAMLError):
    """A mapping holds the same key twice: ``path`` (``optim.lr``), the 1-based ``line`` of the second occurrence
    and ``first_line`` of the first."""

    def __init__(self, path: str, line: int, first_line: int) -> None:
        self.path, self.line, self.first_line = path, line, first_line
        super().__init__(f"{path}: duplicate key at line {line} (first at line {first_line}); {KEEPS_LAST}")


class UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key repeated in one mapping, at any depth (`DuplicateKeyError`).

    Merge keys (``<<``) are left to PyYAML: keys a merge brings in may be overridden by explicit ones, as YAML means.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_lines: dict[str, int] = {}  # key path (``optim.lr``) → 1-based line it is written on

    def get_single_node(self) -> Node | None:
        node = super().get_single_node()
        if node is not None:
            self._check_unique(node, "", set())
        return node

    def _check_unique(self, node: Node, path: str, open_nodes: set[int]) -> None:
        """Walk the tree once per place a node appears (aliases included), skipping a node inside itself."""
        if id(node) in open_nodes:  # a recursive alias (``&a [*a]``)
            return
        open_nodes.add(id(node))
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                name = self._key_name(key_node)
                child = f"{path}.{name}" if path else str(name)
                line = key_node.start_mark.line + 1
                if isinstance(key_node, ScalarNode):
                    key = self.construct_object(key_node)
                    if key in seen:
                        raise DuplicateKeyError(child, line, seen[key])
                    seen[key] = line
                    self.key_lines.setdefault(child, line)
                self._check_unique(value_node, child, open_nodes)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self._check_unique(item, f"{path}[{i}]", open_nodes)
        open_nodes.discard(id(node))

    @staticmethod
    def _key_name(key_node: Node) -> str:
        """The key as written (a scalar's text; a complex key shown by its kind)."""
        return str(key_node.value) if isinstance(key_node, ScalarNode) else f"<{key_node.id} key>"


def load_unique(text: str) -> Any:
    """`yaml.safe_load` that raises `DuplicateKeyError` (a `yaml.YAMLError`) for a key written twice."""
    return load_with_lines(text)[0]


def load_with_lines(text: str) -> tuple[Any, dict[str, int]]:
    """`load_unique`, and the 1-based line of each key path (``{"optim.lr": 2}``; an alias's keys at their anchor)."""
    loader = UniqueKeyLoader(text)
    try:
        return loader.get_single_data(), loader.key_lines
    finally:
        loader.dispose()
