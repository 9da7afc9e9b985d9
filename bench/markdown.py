"""Markdown tables for the bench's reports (bench/report.py, bench/storm.py)."""


def cell(value, digits=1):
    """``value`` as a table cell: a dash for None, floats to ``digits`` decimals."""
    if value is None:
        return '–'
    if isinstance(value, float):
        return f'{value:.{digits}f}'
    return str(value)


def table(header, rows):
    """A Markdown table of ``rows`` under ``header``, each value through ``cell``."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(cell(value) for value in row) + ' |' for row in rows]
    return '\n'.join(lines)
