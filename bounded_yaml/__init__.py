"""The one way every YAML input is read: PyYAML's safe loader with bounds.

PyYAML builds aliases as shared objects, so loading a "billion laughs" document is cheap;
whatever walks the result afterwards (validation, merging, printing) is not. A document is
therefore composed first (a graph whose aliases are shared nodes, linear in the text) and
refused before construction when the text is too large, when it nests too deeply, or when its
aliases would expand to too many values. Each refusal is one line naming the source.

>>> load_yaml("a: &x [1, 2]\\nb: *x", "sheet.yaml")
{'a': [1, 2], 'b': [1, 2]}
>>> bomb = "l0: &l0 [x, x]\\n" + "".join(f"l{i}: &l{i} [*l{i-1}, *l{i-1}]\\n"
...                                       for i in range(1, 21))
>>> load_yaml(bomb, "bomb.yaml")  # doctest: +ELLIPSIS
Traceback (most recent call last):
bounded_yaml.YamlInputError: bomb.yaml: refused: more than 100,000 values (after expanding ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 256 * 1024  # the largest scenario shipped is 3 kB
MAX_NODES = 100_000  # values after alias expansion
MAX_DEPTH = 64  # nesting after alias expansion


class YamlInputError(ValueError):
    """A YAML input refused; the message is one line that names the source and the reason."""


# libyaml's parser where PyYAML was built with it: composing is then about ten times faster.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class BoundedLoader(_SafeLoader):
    """The safe loader; subclass it to add tags (`add_constructor`), never to lift the bounds."""


def load_yaml(text: str, source: str, loader: type[BoundedLoader] = BoundedLoader, *,
              max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES,
              max_depth: int = MAX_DEPTH) -> Any:
    """The data of one YAML document in `text`; YamlInputError naming `source` if refused."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise YamlInputError(f"{source}: refused: {size:,} bytes; expected at most "
                             f"{max_bytes:,}")
    try:
        reader = loader(text)
    except yaml.YAMLError as exc:  # a character YAML does not allow
        raise YamlInputError(f"{source}:{_where(exc)} not valid YAML: {_problem(exc)}") from None
    try:
        node = reader.get_single_node()
        if node is None:
            return None
        _measure(node, source, max_nodes, max_depth)
        return reader.construct_document(node)
    except yaml.YAMLError as exc:
        raise YamlInputError(f"{source}:{_where(exc)} not valid YAML: {_problem(exc)}") from None
    except RecursionError:
        raise YamlInputError(f"{source}: refused: nested deeper than {max_depth} levels"
                             ) from None
    finally:
        reader.dispose()


def read_yaml_file(path: str | os.PathLike[str], what: str = "YAML file",
                   loader: type[BoundedLoader] = BoundedLoader, *, max_bytes: int = MAX_BYTES,
                   max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> Any:
    """`load_yaml` of a UTF-8 file, reading no more than `max_bytes` + 1 bytes of it."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except IsADirectoryError:
        raise YamlInputError(f"{path}: is a folder; expected a {what}") from None
    except OSError as exc:
        raise YamlInputError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if len(raw) > max_bytes:
        raise YamlInputError(f"{path}: refused: larger than {max_bytes:,} bytes; expected a "
                             f"{what} of at most that")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlInputError(f"{path}: expected a YAML text file (UTF-8), found a byte "
                             f"0x{raw[exc.start]:02x} at offset {exc.start}; is it binary?"
                             ) from None
    return load_yaml(text, str(path), loader, max_bytes=max_bytes, max_nodes=max_nodes,
                     max_depth=max_depth)


def _measure(root: yaml.Node, source: str, max_nodes: int, max_depth: int) -> None:
    """Refuse a node graph whose expansion has more than `max_nodes` values or `max_depth`
    levels. Shared (aliased) nodes are measured once, so this is linear in the text; a
    recursive alias never ends and so exceeds the depth."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > max_depth:
            raise YamlInputError(f"{source}: line {node.start_mark.line + 1}: refused: nested "
                                 f"deeper than {max_depth} levels (after expanding aliases)")
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item, depth + 1) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(key, depth + 1) + size(value, depth + 1)
                         for key, value in node.value)
        if total > max_nodes:
            raise YamlInputError(f"{source}: refused: more than {max_nodes:,} values "
                                 "(after expanding aliases); expected plain data")
        sizes[id(node)] = total
        return total

    size(root, 1)


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""


def _problem(exc: yaml.YAMLError) -> str:
    text = str(getattr(exc, "problem", None) or exc)
    context = getattr(exc, "context", None)
    if context and text.startswith("but "):  # "expected a single document ..., but found ..."
        text = f"{context}, {text}"
    return " ".join(text.split())
