"""YAML read together with its node tree, so every error can name the line of the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cobranza.starter.input_errors import InputError

Loc = tuple[int | str, ...]


class YamlSource:
    """A parsed YAML document plus the node marks needed to point at any part of it."""

    def __init__(self, file: str, data: Any, root: yaml.Node | None) -> None:
        self.file = file
        self.data = data
        self.root = root

    @classmethod
    def read(cls, path: Path) -> YamlSource | InputError:
        """Parse a file; a syntax error comes back as an InputError on the line YAML reports."""
        file = str(path)
        text = path.read_text(encoding="utf-8")
        try:
            # Two passes over small files: the node tree for lines, safe_load for plain values.
            root = yaml.compose(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            return InputError(file, line, "(file)", f"not valid YAML: {exc}")
        return cls(file, data, root)

    def line(self, loc: Loc) -> int:
        """Line (1-based) of the deepest node the location reaches; 1 for an empty document."""
        node = self.root
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for part in loc:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                child = next((v for k, v in node.value if k.value == str(part)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                child = node.value[part] if part < len(node.value) else None
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line

    def error(self, loc: Loc, message: str) -> InputError:
        return InputError(self.file, self.line(loc), field_name(loc), message)

    def validation_errors(self, exc: ValidationError, base: Loc) -> list[InputError]:
        """One InputError per pydantic error, placed at the line of the field it names."""
        errors = []
        for err in exc.errors():
            loc = base + tuple(err["loc"])
            # A validator's own message already says what is wrong; drop pydantic's prefix.
            cause = err.get("ctx", {}).get("error") if err["type"] == "value_error" else None
            errors.append(self.error(loc, str(cause) if cause else str(err["msg"])))
        return errors


def field_name(loc: Loc) -> str:
    """`invoices[2].amount` style: the path a reader can follow in the file."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(file)"
