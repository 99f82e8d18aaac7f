"""What an import reports: one RowError per bad cell or row, and the counts."""

from dataclasses import asdict, dataclass, field


class ImportFileError(Exception):
    """The file as a whole cannot be read: not UTF-8, not CSV, missing or unknown columns,
    empty, or an unsupported delimiter. str(exc) is a one-line message for a user."""


class ImportConflictError(ImportFileError):
    """The database refused the write (another import or edit of the same rows at the same
    time): everything was rolled back and the import can simply be run again."""


@dataclass(frozen=True)
class RowError:
    """A bad row: its first physical line in the file (the header is line 1), the column
    ("" for the whole row) and what is wrong, in words for the person who made the file."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.message}"


@dataclass
class ImportResult:
    """The outcome of one import. `written` is False when errors stopped the whole write.

    `also_created` counts the rows made as a side effect (companies, products, lead
    sources, teams), by kind; rows of the file are counted in created/updated/unchanged.
    """

    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False
    also_created: dict[str, int] = field(default_factory=dict)

    @property
    def bad_rows(self) -> int:
        """How many rows have a problem: a row with four bad cells is one bad row."""
        return len({error.line for error in self.errors})

    def as_dict(self) -> dict:
        """JSON-serialisable, for a job row."""
        return asdict(self)
