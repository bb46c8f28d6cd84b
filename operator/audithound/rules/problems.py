"""Problems found in a rule: errors that stop it from running, and warnings that do not.

Fed by: the loader (YAML), the compiler (spec and query). Feeds: ``rules check``, ``scan``'s
messages, and the operator's ``Ready`` condition.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

Level = Literal["error", "warning"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a rule, with where it is as precisely as we know it.

    ``path`` is the field path in the resource (``spec.query``); ``line``/``column`` are
    1-based positions inside that field's text (the query) when known; ``file_line`` /
    ``file_column`` are positions in the YAML file when the rule came from one.
    """

    level: Level
    message: str
    path: str = ""
    line: int | None = None
    column: int | None = None
    excerpt: str = ""
    rule: str = ""
    file: str = ""
    file_line: int | None = None
    file_column: int | None = None
    #: The reason of the rule's Ready condition that this error implies, when not the one its
    #: path implies (QueryInvalid for the query, else SpecInvalid).
    reason: str = ""

    @property
    def is_error(self) -> bool:
        return self.level == "error"

    def where(self) -> str:
        """``spec.query: line 1, column 41`` (or just the path) for status messages."""
        parts = [self.path] if self.path else []
        if self.line is not None:
            parts.append(f"line {self.line}, column {self.column}")
        return ": ".join(parts)

    def short(self) -> str:
        """One line without the file: what the operator puts into a rule's status."""
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def render(self) -> str:
        """The full report line(s): file position, rule, level, message, then the excerpt."""
        location = self.file or "<rule>"
        if self.file_line is not None:
            location += f":{self.file_line}"
            if self.file_column is not None:
                location += f":{self.file_column}"
        rule = f" rule {self.rule}:" if self.rule else ""
        text = f"{location}:{rule} {self.level}: {self.short()}"
        if self.excerpt:
            text += "\n" + "\n".join("    " + row for row in self.excerpt.splitlines())
        return text
