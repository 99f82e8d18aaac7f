"""The one rule for CSV cells a spreadsheet would evaluate, used by every export and undone
by the import, so that an export opened in Excel runs no formula and an export imported
back is unchanged.

OWASP's rule (CSV injection): a cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return is written with a leading `'`, which spreadsheets take as "text follows".
Two refinements make it lossless:

- A value that already starts with one or more `'` followed by such a character gets one
  more `'`, so the import, which takes exactly one `'` off a cell of that shape, gives back
  what was exported: `=x` -> `'=x` -> `=x`, and `'=x` -> `''=x` -> `'=x`. Any other value
  is written and read unchanged, so `neutralise` and `restore` are inverse on every value.
- A cell that is a plain decimal number (`-5`, `-0.25`, `-1.5e-05`) is left as it is: it
  cannot be a formula, and a spreadsheet keeps reading it as a number.
"""

import re
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _needs_quote(text: str) -> bool:
    """Does `text`, once its leading quotes are set aside, start with a trigger?"""
    return text.lstrip(QUOTE).startswith(TRIGGERS) and not NUMBER.fullmatch(text)


def neutralise(value: Any) -> str:
    """The cell to write for `value` (None is an empty cell)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return QUOTE + text if _needs_quote(text) else text


def restore(cell: str) -> str:
    """The value an exported cell stands for: one `'` taken off a neutralised cell."""
    if cell.startswith(QUOTE) and _needs_quote(cell[1:]):
        return cell[1:]
    return cell
