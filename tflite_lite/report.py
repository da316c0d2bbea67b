"""Plain-text tables of measured figures."""


def format_table(rows, columns):
    """Renders dict rows as an aligned text table.

    Args:
      rows: a list of dicts.
      columns: (key, header, format spec) triples, e.g. ("macs", "MACs", ",d").

    Returns:
      The table as one string, header first.
    """
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append(["-" if row.get(key) is None else format(row[key], spec)
                      for key, _, spec in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(line, widths))) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
