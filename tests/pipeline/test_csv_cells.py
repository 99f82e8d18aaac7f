"""The formula rule for CSV cells: what an export writes for tricky values, and that the
import's restore gives every one of them back."""

import pytest

from pipeline.csv_cells import neutralise, restore

# (value, cell written): each trigger of OWASP's list, values that already start with
# quotes, plain numbers (kept numeric), and values that need nothing.
WRITTEN = [
    ('=HYPERLINK("http://evil.example","Click")', '\'=HYPERLINK("http://evil.example","Click")'),
    ("=SUM(A1)", "'=SUM(A1)"),
    ("+1+2", "'+1+2"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("-", "'-"),
    ("--5", "'--5"),
    ("-5e", "'-5e"),
    ("'=x", "''=x"),  # a quote already there: one more, so the import takes one off
    ("''=x", "'''=x"),
    ("'-5", "''-5"),
    ("'", "'"),  # a quote before no trigger is plain text
    ("'abc", "'abc"),
    ("''", "''"),
    ("-5", "-5"),  # plain numbers cannot be formulas and stay numbers
    ("-5.00", "-5.00"),
    ("-0.25", "-0.25"),
    ("-1.5e-05", "-1.5e-05"),
    ("12", "12"),
    ("", ""),
    ("Acme = Big", "Acme = Big"),
    ("a-b", "a-b"),
    (" =x", " =x"),
]


@pytest.mark.parametrize(("value", "cell"), WRITTEN)
def test_a_cell_that_a_spreadsheet_would_evaluate_gets_a_quote(value, cell):
    assert neutralise(value) == cell


@pytest.mark.parametrize("value", [value for value, _ in WRITTEN])
def test_restore_gives_back_every_value_exported(value):
    assert restore(neutralise(value)) == value


def test_numbers_and_none_are_written_as_text_cells():
    assert neutralise(None) == ""
    assert neutralise(-3) == "-3"
    assert neutralise(0.5) == "0.5"
    assert neutralise(-1e-05) == "-1e-05"


def test_a_cell_no_export_writes_is_read_as_written():
    # Only a quote followed by (quotes and) a trigger is taken off.
    for cell in ("'abc", "'", "abc", "=x", "-5", "'-5"):
        assert restore(cell) == cell
