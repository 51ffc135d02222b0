"""Where in a YAML file a field lives, so every refused file names its line and field."""

from __future__ import annotations

from typing import Any

import yaml

Loc = tuple[int | str, ...]


def compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for lines) and the plain data; a syntax error raises YamlSyntaxError."""
    try:
        return yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise YamlSyntaxError(f"{where}: not valid YAML: {exc}") from exc


class YamlSyntaxError(ValueError):
    """A file that is not YAML at all; the message is one `file:line: reason` problem."""


def line_of(node: yaml.Node | None, loc: Loc, *, at_key: bool = True) -> int | None:
    """Line (1-based) of the YAML node at a location, as deep as the location resolves.

    `at_key` names the line of a mapping's key; otherwise the line its value starts on (for a
    block list, the first item's line).
    """
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is None:
                break
            # The key's line: a block list or mapping only starts on the line after it.
            node = pair[1]
            line = (pair[0] if at_key else node).start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def located(
    source: str, node: yaml.Node | None, loc: Loc, message: str, *, at_key: bool = True
) -> str:
    """`file:line: field: message`, without the line when the location has none."""
    field = ".".join(str(p) for p in loc) or "(file)"
    line = line_of(node, loc, at_key=at_key)
    return f"{source}:{line}: {field}: {message}" if line else f"{source}: {field}: {message}"
