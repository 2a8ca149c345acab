"""A report page as a list of blocks, written both as Markdown and as one self-contained HTML file.

Blocks: Heading, Para, Bullets, TableBlock, FigureBlock. Inline text may use `code`, **bold** and
[text](link); nothing else, so both writers stay small. HTML embeds figures as base64 PNG and
tables as HTML, with a little CSS: the file opens in any browser without other files.
"""
from __future__ import annotations

import base64
import html
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from ntm_bench.report.render import Table, render


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class TableBlock:
    table: Table
    title: str
    files: list[Path]  # the table's own files (md/csv/tex), linked under it


@dataclass
class FigureBlock:
    png: Path
    pdf: Path | None
    caption: str


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 72rem;
       margin: 2rem auto; padding: 0 1rem; line-height: 1.45; color: #111; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; border-bottom: 1px solid #ccc; margin-top: 2rem; }
h3 { font-size: 1.1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 0.3rem; font-size: 0.85rem; }
th, td { padding: 0.15rem 0.6rem; text-align: left; vertical-align: top; }
thead th { border-top: 2px solid #111; border-bottom: 1px solid #111; }
tbody tr:last-child td { border-bottom: 2px solid #111; }
tr.group td { border-top: 1px solid #999; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.caption { font-size: 0.85rem; color: #333; max-width: 60rem; }
figure { margin: 1rem 0 1.5rem; } figure img { max-width: 100%; height: auto; display: block; }
code { background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; }
.scroll { overflow-x: auto; }
"""

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)]+)\)")


def inline_html(text: str) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append(f"<code>{html.escape(m.group(1))}</code>")
        elif m.group(2) is not None:
            out.append(f"<b>{html.escape(m.group(2))}</b>")
        else:
            out.append(f'<a href="{html.escape(m.group(4))}">{html.escape(m.group(3))}</a>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def first_sentence(text: str) -> str:
    """Up to the first full stop that ends a sentence ("et al. 2014" does not): a figure's alt text."""
    return re.split(r"(?<=[a-z0-9)])\.\s+(?=[A-Z])", text.strip(), maxsplit=1)[0].rstrip(".")


def _rel(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def to_markdown(title: str, blocks: list, base: Path) -> str:
    lines = [f"# {title}", ""]
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            lines += [b.text, ""]
        elif isinstance(b, Bullets):
            lines += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, TableBlock):
            links = " · ".join(f"[{p.suffix[1:]}]({_rel(p, base)})" for p in b.files)
            lines += [f"**{b.title}**" + (f" ({links})" if links else ""), "", render(b.table, "md").rstrip(), ""]
            if b.table.caption:
                lines += [f"*{b.table.caption}*", ""]
        elif isinstance(b, FigureBlock):
            pdf = f" ([pdf]({_rel(b.pdf, base)}))" if b.pdf else ""
            lines += [f"![{first_sentence(b.caption)}]({_rel(b.png, base)})", "", f"*{b.caption}*{pdf}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _png_width_px(data: bytes) -> int:
    """Display width: the PNG's pixel width at 300 dpi shown at 110 CSS px per inch."""
    width = struct.unpack(">I", data[16:20])[0]
    return round(width / 300 * 110)


def to_html(title: str, blocks: list, base: Path) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
             f"<h1>{html.escape(title)}</h1>"]
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{inline_html(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            parts.append(f"<p>{inline_html(b.text)}</p>")
        elif isinstance(b, Bullets):
            parts.append("<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, TableBlock):
            links = " · ".join(f'<a href="{html.escape(_rel(p, base))}">{p.suffix[1:]}</a>' for p in b.files)
            parts.append(f"<h3>{html.escape(b.title)}" + (f' <small>({links})</small>' if links else "") + "</h3>")
            parts.append('<div class="scroll">' + render(b.table, "html") + "</div>")
            if b.table.caption:
                parts.append(f'<p class="caption">{inline_html(b.table.caption)}</p>')
        elif isinstance(b, FigureBlock):
            data = b.png.read_bytes()
            src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            pdf = f' (<a href="{html.escape(_rel(b.pdf, base))}">pdf</a>)' if b.pdf else ""
            parts.append(f'<figure><img src="{src}" width="{_png_width_px(data)}" alt="{html.escape(b.caption)}">'
                         f'<figcaption class="caption">{inline_html(b.caption)}{pdf}</figcaption></figure>')
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
