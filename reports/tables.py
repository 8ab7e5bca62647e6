"""The one Markdown table writer every report uses (GitHub-flavoured pipe tables)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["cell", "markdown_table"]


def cell(value: Any) -> str:
    """One value as the text of a table cell.

    Parameters
    ----------
    value : Any
        ``None`` becomes an empty cell; anything else its ``str``.

    Returns
    -------
    str
        The text with ``|`` escaped (a file name or an officer's note with a pipe must not split
        the row into more columns) and line breaks turned into spaces (a pipe table row is one line).

    Examples
    --------
    >>> cell("a|b\\nc")
    'a\\\\|b c'
    >>> cell(None)
    ''
    """
    if value is None:
        return ""
    text = str(value).replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return text.replace("|", "\\|")


def markdown_table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], empty: str | None = None) -> str:
    """A Markdown pipe table.

    Parameters
    ----------
    headers : sequence
        Column titles.
    rows : iterable of sequences
        One sequence of cell values per row, as many as ``headers``; each goes through :func:`cell`.
    empty : str, optional
        Returned instead of a table with no rows, when given.

    Returns
    -------
    str
        The header line, the separator line and one line per row, joined by newlines, ending with
        a newline.

    Examples
    --------
    >>> print(markdown_table(["kind", "file"], [["gap", "a|b.mp4"]]), end="")
    | kind | file |
    |---|---|
    | gap | a\\|b.mp4 |
    """
    body = list(rows)
    if not body and empty is not None:
        return empty
    lines = [_line(headers), "|" + "---|" * len(headers)]
    for row in body:
        if len(row) != len(headers):
            raise ValueError(f"a row has {len(row)} cells, the table {len(headers)} columns")
        lines.append(_line(row))
    return "\n".join(lines) + "\n"


def _line(values: Sequence[Any]) -> str:
    return "| " + " | ".join(cell(v) for v in values) + " |"
