"""Errors that tell the user what is wrong, where, and how to fix it.

Every user-facing failure in refusalkit raises a subclass of `RefusalkitError`; the CLI
prints its message (no traceback) and exits with status 2. `DataError` carries the
exact position (file, line/row, field), the fields that *were* found, and a hint that
names the flag that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterable


class RefusalkitError(Exception):
    """Base class of every error refusalkit reports to users."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(RefusalkitError):
    """A configuration file or option is invalid (endpoints, taxonomy, ...)."""


class DataError(RefusalkitError):
    """A dataset row could not be read or understood.

    The message always names the file and position; `found_fields` lists what the
    row did contain so the user can pick the right `--*-field` override.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        line: int | None = None,
        row: int | None = None,
        field: str | None = None,
        found_fields: Iterable[str] | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.line = line
        self.row = row
        self.field = field
        self.found_fields = list(found_fields) if found_fields is not None else None
        where = [file or "<input>"]
        if line is not None:
            where.append(f"line {line}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        message = f"{', '.join(where)}: {problem}"
        if self.found_fields is not None:
            shown = ", ".join(repr(f) for f in self.found_fields[:30]) or "(none)"
            message += f"\n  fields found: {shown}"
        super().__init__(message, hint=hint)

    @property
    def reason(self) -> str:
        """Short machine-friendly reason used in reject files."""
        if self.field is not None:
            return f"{self.problem} (field {self.field!r})"
        return self.problem
