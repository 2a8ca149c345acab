"""One table structure, four renderings: Markdown, CSV, LaTeX (booktabs) and HTML.

A `Table` keeps raw values; formatting happens per output so that CSV keeps full precision
and splits "mean +- sd" cells into two columns, while Markdown and LaTeX show rounded numbers.
NaN (or None) is never printed as a number: "—" in Markdown and HTML, empty in CSV, "--" in LaTeX.

LaTeX: a complete `table` float (\\caption above, \\label `Table.label`, booktabs rules) that needs
only the booktabs package; a table of more than LONG_TABLE_ROWS rows is a `longtable` instead
(the longtable package), which breaks across pages with its header repeated. Numbers have fixed decimals per column and are right-aligned, so their
decimal points line up; a "mean ± sd" column is two columns (mean, then "± sd"), each right-aligned,
under one heading, so means and standard deviations line up separately.
"""
from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass, field

from ntm_bench.errors import BenchError

FORMATS = ("md", "csv", "latex", "html")
MISSING = {"md": "—", "csv": "", "latex": "--", "html": "—"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"   # text | int | float | pm (a (mean, sd) pair) | frac ((k, n) -> "k/n")
    digits: int = 3      # decimals for float and pm columns in md/latex/html


@dataclass
class Table:
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    bold: set = field(default_factory=set)      # (row index, column name) shown in bold
    groups: list[int] = field(default_factory=list)  # row indices that start a new group (rule above)
    caption: str = ""
    collapse: tuple = ()  # leading columns shown only when they change (md/latex/html; CSV repeats them)
    label: str = ""       # LaTeX \\label, e.g. "tab:accuracy" (none when empty)


def check_format(fmt: str, allowed=FORMATS) -> None:
    if fmt not in allowed:
        raise BenchError(f"unknown table format {fmt!r}; valid: {', '.join(allowed)}")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _fmt_num(v, kind: str, digits: int, fmt: str) -> str:
    if _missing(v):
        return MISSING[fmt]
    if kind == "int":
        return str(int(round(v)))
    if fmt == "csv":
        return repr(float(v)) if not float(v).is_integer() else str(float(v))
    return f"{v:.{digits}f}"


def _cell(v, col: Column, fmt: str) -> str:
    if isinstance(v, str) and v == "":
        return ""  # deliberately blank (e.g. a value shown once per group)
    if col.kind == "pm":
        mean, sd = v if isinstance(v, tuple) else (v, math.nan)
        if _missing(mean):
            return MISSING[fmt]
        m = _fmt_num(mean, "float", col.digits, fmt)
        if _missing(sd):
            return m
        s = _fmt_num(sd, "float", col.digits, fmt)
        return {"md": f"{m} ± {s}", "latex": f"{m} $\\pm$ {s}", "html": f"{m} ± {s}"}[fmt]
    if col.kind == "frac":
        k, n = v
        return f"{k}/{n}" if not (_missing(k) or _missing(n)) else MISSING[fmt]
    if col.kind in ("int", "float"):
        return _fmt_num(v, col.kind, col.digits, fmt)
    if _missing(v):
        return MISSING[fmt]
    return str(v)


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "±": r"$\pm$", "—": "--", "–": "--", "≥": r"$\geq$", "≤": r"$\leq$", "×": r"$\times$",
                 "−": "-", "→": r"$\rightarrow$", "…": r"\ldots{}", "’": "'", "‘": "`", "“": "``", "”": "''"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(c, c) for c in str(text))


def render(table: Table, fmt: str) -> str:
    check_format(fmt)
    return {"md": _md, "csv": _csv, "latex": _latex, "html": _html}[fmt](table)


def _shown(t: Table) -> list[list]:
    """Rows with the `collapse` columns blanked where they repeat the row above (within a group)."""
    idx = [i for i, c in enumerate(t.columns) if c.name in t.collapse]
    out, prev = [], None
    for r, row in enumerate(t.rows):
        row = list(row)
        same = prev is not None and r not in t.groups
        for k in idx:
            same = same and prev[k] == row[k]
            if same:
                row[k] = ""
        prev = list(t.rows[r])
        out.append(row)
    return out


def _md(t: Table) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    head = "| " + " | ".join(esc(c.name) for c in t.columns) + " |"
    align = "|" + "|".join("---" if c.kind == "text" else "---:" for c in t.columns) + "|"
    lines = [head, align]
    for i, row in enumerate(_shown(t)):
        cells = []
        for c, v in zip(t.columns, row):
            s = esc(_cell(v, c, "md"))
            cells.append(f"**{s}**" if (i, c.name) in t.bold and s != MISSING["md"] else s)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv(t: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = []
    for c in t.columns:
        header += [c.name, f"{c.name}_sd"] if c.kind == "pm" else [c.name]
    w.writerow(header)
    for row in t.rows:
        out = []
        for c, v in zip(t.columns, row):
            if c.kind == "pm":
                mean, sd = v if isinstance(v, tuple) else (v, math.nan)
                out += [_fmt_num(mean, "float", c.digits, "csv"), _fmt_num(sd, "float", c.digits, "csv")]
            else:
                out.append(_cell(v, c, "csv"))
        w.writerow(out)
    return buf.getvalue()


def _latex_cells(v, c: Column, bold: bool) -> list[str]:
    """One value as its LaTeX cell(s): two for a pm column (mean, "± sd"), escaped text otherwise."""
    def b(x: str) -> str:
        return f"\\textbf{{{x}}}" if bold and x not in ("", "--") else x

    if c.kind == "pm":
        if isinstance(v, str) and v == "":
            return ["", ""]
        mean, sd = v if isinstance(v, tuple) else (v, math.nan)
        if _missing(mean):
            return ["\\multicolumn{2}{c}{--}"]
        sd_cell = "" if _missing(sd) else f"$\\pm$ {_fmt_num(sd, 'float', c.digits, 'latex')}"
        return [b(_fmt_num(mean, "float", c.digits, "latex")), b(sd_cell)]
    s = _cell(v, c, "latex")
    return [b(s if c.kind in ("float", "int", "frac") else latex_escape(s))]


LONG_TABLE_ROWS = 40  # longer tables are a longtable (it breaks across pages; a float would run off the page)


def _latex(t: Table) -> str:
    spec = "".join("l" if c.kind == "text" else "r@{\\,}r" if c.kind == "pm" else "r" for c in t.columns)
    head = " & ".join(f"\\multicolumn{{2}}{{c}}{{{latex_escape(c.name)}}}" if c.kind == "pm" else
                      latex_escape(c.name) for c in t.columns) + " \\\\"
    caption = [f"\\caption{{{latex_escape(t.caption)}}}"] if t.caption else []
    label = [f"\\label{{{t.label}}}"] if t.label else []
    body = []
    for i, row in enumerate(_shown(t)):
        if i in t.groups and i > 0:
            body.append("\\midrule")
        cells = []
        for c, v in zip(t.columns, row):
            cells += _latex_cells(v, c, (i, c.name) in t.bold)
        body.append(" & ".join(cells) + " \\\\")
    if len(t.rows) > LONG_TABLE_ROWS:
        ncols = sum(2 if c.kind == "pm" else 1 for c in t.columns)
        lines = ["% ntm-bench table: needs \\usepackage{booktabs} and \\usepackage{longtable}",
                 f"\\begin{{longtable}}{{{spec}}}"]
        lines += [caption[0] + "".join(label) + " \\\\"] if caption else ([label[0] + " \\\\"] if label else [])
        lines += ["\\toprule", head, "\\midrule", "\\endfirsthead",
                  f"\\multicolumn{{{ncols}}}{{l}}{{\\emph{{(continued)}}}} \\\\", "\\toprule", head, "\\midrule",
                  "\\endhead", "\\bottomrule", "\\endlastfoot"]
        lines += body + ["\\end{longtable}"]
    else:
        lines = ["% ntm-bench table: needs \\usepackage{booktabs}", "\\begin{table}[htbp]", "\\centering"]
        lines += caption + label
        lines += [f"\\begin{{tabular}}{{{spec}}}", "\\toprule", head, "\\midrule"]
        lines += body + ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def _html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c.name)}</th>" for c in t.columns)
    body = []
    for i, row in enumerate(_shown(t)):
        cls = ' class="group"' if i in t.groups and i > 0 else ""
        cells = []
        for c, v in zip(t.columns, row):
            s = html.escape(_cell(v, c, "html"))
            if (i, c.name) in t.bold and s != MISSING["html"]:
                s = f"<b>{s}</b>"
            cells.append(f'<td class="num">{s}</td>' if c.kind != "text" else f"<td>{s}</td>")
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>\n"
