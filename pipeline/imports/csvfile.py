"""Reading an uploaded CSV file: bytes, encoding, delimiter, header, and rows that keep
the physical line they start on (a quoted cell may span lines)."""

import codecs
import csv
import io
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..csv_cells import restore
from .results import ImportFileError, RowError

DELIMITERS = {",": "comma", ";": "semicolon"}
# Told apart only to say what the file uses instead.
OTHER_DELIMITERS = {"\t": "tabs", "|": "vertical bars"}
FIRST_LINE = re.compile(r"[^\r\n]*")


def read_bytes(source) -> bytes:
    """The raw bytes of a path, bytes, or a binary file-like object (an UploadedFile)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        try:
            return Path(source).read_bytes()
        except OSError as error:
            raise ImportFileError(f"Cannot read {source}: {error.strerror}.") from error
    if hasattr(source, "read"):
        if getattr(source, "seekable", lambda: False)():
            source.seek(0)  # a form may have read the upload already
        data = source.read()
        return data.encode() if isinstance(data, str) else bytes(data)
    raise TypeError(f"Cannot import from a {type(source).__name__}")


def decode(data: bytes) -> str:
    """UTF-8 text with any byte-order mark removed, or an ImportFileError saying why not."""
    save_as = "save it as “CSV UTF-8” and try again"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(f"The file is UTF-16 (“Unicode text”), not UTF-8: {save_as}.")
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(f"This is a zip file (an Excel workbook?), not CSV: {save_as}.")
    if b"\x00" in data:
        raise ImportFileError("This is not a CSV file: it contains binary data.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ImportFileError(
            f"The file is not UTF-8: byte 0x{data[error.start]:02x} on line {line} cannot be "
            f"read (a file saved as Latin-1 or Windows-1252?); {save_as}."
        ) from error


def sniff_delimiter(header: str) -> str:
    """Comma or semicolon, whichever separates the header; any other separator is refused."""
    counts = {char: header.count(char) for char in [*DELIMITERS, *OTHER_DELIMITERS]}
    delimiter = max(counts, key=lambda char: counts[char])
    if counts[delimiter] == 0:
        return ","  # one column: the header check names the missing ones
    if delimiter in OTHER_DELIMITERS:
        raise ImportFileError(
            "Use a comma or a semicolon as the delimiter; this file's header is separated "
            f"by {OTHER_DELIMITERS[delimiter]}."
        )
    return delimiter


@dataclass
class CsvFile:
    """A decoded file whose header has exactly the expected columns."""

    text: str
    delimiter: str
    columns: list[str]
    rows: int  # data rows, blank lines not counted
    spare: int = 0  # empty names ending the header, as spreadsheets write them

    def records(self) -> Iterator[tuple[int, dict[str, str] | RowError]]:
        """(line, {column: stripped cell}) for each non-blank data row, or (line, RowError)
        for a row with the wrong number of cells. `line` is where the row starts. A cell
        the export neutralised (`'=x`) is read back as the value it stands for (`=x`)."""
        width = len(self.columns)
        reader = _reader(self.text, self.delimiter)
        next(reader)
        end = reader.line_num
        for cells in _guarded(reader):
            line, end = end + 1, reader.line_num
            cells = [restore(cell.strip()) for cell in cells]
            if not any(cells):
                continue
            if width < len(cells) <= width + self.spare and not any(cells[width:]):
                del cells[width:]  # the empty columns the header ends with
            if len(cells) != width:
                amount = "many" if len(cells) > width else "few"
                hint = " (quote a value that contains the delimiter)" if amount == "many" else ""
                message = f"Too {amount} cells: {len(cells)}, the header has {width}{hint}."
                yield line, RowError(line=line, column="", message=message)
                continue
            yield line, dict(zip(self.columns, cells, strict=True))


def _reader(text: str, delimiter: str):
    # newline="": the csv module sees the line ends itself, so quoted line breaks survive
    # and line_num counts physical lines.
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _guarded(reader) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as error:
        raise ImportFileError(
            f"Line {reader.line_num} is not valid CSV ({error}); is a quote left open?"
        ) from error


def open_csv(source, *, columns: Sequence[str]) -> CsvFile:
    """Read, decode and check the header of a file that must have exactly `columns`
    (in any order; names are matched without regard to case or surrounding spaces)."""
    text = decode(read_bytes(source))
    if not text.strip():
        raise ImportFileError("The file is empty.")
    first_line = FIRST_LINE.match(text).group()
    if not first_line.strip():
        raise ImportFileError(
            f"Line 1 is empty; the first line must be the header: {', '.join(columns)}."
        )
    delimiter = sniff_delimiter(first_line)
    reader = _reader(text, delimiter)
    header = [name.strip().lower() for name in next(_guarded(reader))]
    spare = 0
    while header and not header[-1]:
        header.pop()
        spare += 1
    _check_header(header, columns)
    rows = sum(1 for cells in _guarded(reader) if any(cell.strip() for cell in cells))
    return CsvFile(text=text, delimiter=delimiter, columns=header, rows=rows, spare=spare)


def _check_header(header: list[str], columns: Sequence[str]) -> None:
    if "" in header:
        raise ImportFileError(f"Column {header.index('') + 1} of the header has no name.")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ImportFileError(f"The header names {', '.join(repeated)} more than once.")
    missing = [name for name in columns if name not in header]
    unknown = [name for name in header if name not in columns]
    problems = []
    if missing:
        problems.append(f"Missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}.")
    if unknown:
        problems.append(f"Unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.")
    if problems:
        problems.append(f"The columns are: {', '.join(columns)}.")
        raise ImportFileError(" ".join(problems))
