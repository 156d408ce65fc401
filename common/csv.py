"""CSV that a spreadsheet opens safely: every CSV the product writes goes through formula_safe_writer.

A cell whose text starts with = + - @, a tab or a carriage return runs as a formula when a
spreadsheet opens the file (OWASP, "CSV Injection"); such a text is written with a leading
apostrophe. A text that already starts with an apostrophe gets one too, so that `formula_restored`
can undo the rule exactly: an importer reading the file back gets the original text."""
import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def formula_safe(value):
    """The cell as written: texts that a spreadsheet would run (or that start with the escape
    itself) get a leading apostrophe; anything else is unchanged."""
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, ESCAPE)):
        return ESCAPE + value
    return value


def formula_restored(cell: str) -> str:
    """The text formula_safe was given: the inverse of formula_safe on a text cell."""
    return cell[1:] if cell.startswith(ESCAPE) else cell


class _FormulaSafeWriter:
    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row):
        return self._writer.writerow([formula_safe(cell) for cell in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def formula_safe_writer(out, **kwargs):
    """csv.writer(out, **kwargs) whose rows have every text cell passed through formula_safe."""
    return _FormulaSafeWriter(csv.writer(out, **kwargs))
