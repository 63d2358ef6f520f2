"""Read an nbdev notebook for myst-nb: nbdev's cell directives become myst-nb's cell tags.

nbdev publishes a notebook through Quarto, which reads the `#|` lines itself. myst-nb knows tags
instead, so `on_source_read` (connected to Sphinx's `source-read` in `docs/conf.py`) rewrites each
cell the way nbdev's docs show it, except that the page keeps the code of `#| export` cells (here a
module's code sits next to the math it implements; the API pages list the exported names):

* `#| hide`, `#| default_exp` and cells left empty once the directives are gone: not shown (still run);
* `#| echo: false`: output only; `#| output: false`: input only;
* `#| eval: false`, a flag of `tst_flags` (`#| slow`, `#| gpu`) or a call of `nbdev_export(`: shown, not run
  (as `nbdev_test` skips them);
* a raw front-matter cell (`---` … `---`) is dropped, and `skip_exec: true` in it turns execution off for
  the whole notebook (nbs/train.ipynb, which trains for minutes);
* every `#|` line leaves the shown source;
* a `show_doc(name)` cell becomes the autodoc directive for `name` in the notebook's module, the same
  signature and docstring as the API page (nbdev's markdown output starts with a `---` rule, which
  docutils refuses inside a cell's output).

The front page (`nbs/index.ipynb`, which is also README.md) gains one hidden toctree cell listing
the other pages, so the sidebar shows them and README keeps no Sphinx syntax.
"""
import importlib
import inspect
import re
from configparser import ConfigParser
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
FRONT_PAGE = "nbs/index"  # the docname of the front page
_DIRECTIVE = re.compile(r"^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")


def settings():
    "nbdev's settings.ini, read as setup.py reads it."
    cfg = ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini", encoding="utf-8")
    return cfg["DEFAULT"]


def skip_flags() -> set[str]:
    "The cell flags `nbdev_test` skips (settings.ini's `tst_flags`, e.g. {'slow', 'gpu'})."
    return {f for f in settings().get("tst_flags", "").split("|") if f}


def directives(source: str) -> dict[str, str]:
    "The `#| name: value` lines of a cell's source, as {name: value}."
    return {m[1]: m[2] for m in map(_DIRECTIVE.match, source.splitlines()) if m}


def front_matter(cell) -> dict[str, str] | None:
    "A raw `---`-fenced cell's `key: value` lines (nbdev's front matter), or None for any other cell."
    lines = cell.source.strip().splitlines()
    if cell.cell_type != "raw" or len(lines) < 2 or lines[0] != "---" or lines[-1] != "---": return None
    return {k.strip(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:-1]) if k.strip()}


def tag_cell(cell, flags: set[str]):
    "Turn a code cell's nbdev directives into myst-nb tags and drop the `#|` lines from its source."
    d = directives(cell.source)
    tags = set(cell.metadata.get("tags", []))
    cell.source = "\n".join(l for l in cell.source.splitlines() if not _DIRECTIVE.match(l)).strip("\n")
    if {"hide", "default_exp"} & d.keys() or not cell.source.strip(): tags.add("remove-cell")
    if d.get("echo", "").lower() == "false": tags.add("remove-input")
    if d.get("output", "").lower() == "false": tags.add("remove-output")
    if d.get("eval", "").lower() == "false" or flags & d.keys() or "nbdev_export(" in cell.source:
        tags.add("skip-execution")
    if tags: cell.metadata["tags"] = sorted(tags)


def show_doc_cell(cell, module: str | None):
    "For a code cell that is only `show_doc(name)`: a markdown cell documenting `name` of `module` (else None)."
    m = re.fullmatch(r"show_doc\(([\w.]+)\)", cell.source.strip())
    if m is None or module is None: return None
    obj = importlib.import_module(module)
    for part in m[1].split("."): obj = getattr(obj, part)
    kind = "class" if inspect.isclass(obj) else "method" if "." in m[1] else "function"
    return nbformat.v4.new_markdown_cell(f":::{{auto{kind}}} {module}.{m[1]}\n:no-index:\n:::")


def toctree_cell(caption: str, entries: list[str]):
    "A markdown cell holding a hidden MyST toctree of `entries` (absolute docnames, e.g. '/tutorials/01_x')."
    return nbformat.v4.new_markdown_cell(f":::{{toctree}}\n:caption: {caption}\n:hidden:\n\n" + "\n".join(entries) + "\n:::")


def site_contents() -> list[tuple[str, list[str]]]:
    "The sidebar's sections: (caption, docnames) for the module notebooks, the tutorials and the API pages."
    names = lambda folder, pattern: [f"/{folder}/{p.stem}" for p in sorted((ROOT / folder).glob(pattern))]
    return [("Modules", names("nbs", "[0-9]*.ipynb") + ["/nbs/train"]),
            ("Tutorials", names("tutorials", "[0-9]*.ipynb")),
            ("API", ["/docs/api/index"])]


def site_notebook(nb, docname: str):
    "Notebook `nb` (docname `docname`, e.g. 'nbs/00_levels') rewritten in place as the site shows it."
    fm = front_matter(nb.cells[0]) if nb.cells else None
    if fm is not None:
        nb.cells = nb.cells[1:]
        if fm.get("skip_exec", "").lower() == "true": nb.metadata["mystnb"] = {"execution_mode": "off"}
    flags = skip_flags()
    exp = next((d["default_exp"] for c in nb.cells if c.cell_type == "code"
                for d in [directives(c.source)] if "default_exp" in d), None)
    module = f"{settings()['lib_name']}.{exp}" if exp else None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code": continue
        tag_cell(cell, flags)
        nb.cells[i] = show_doc_cell(cell, module) or cell
    if docname == FRONT_PAGE: nb.cells += [toctree_cell(caption, entries) for caption, entries in site_contents()]
    return nb


def on_source_read(app, docname: str, source: list[str]):
    "Sphinx's `source-read` hook: each notebook reaches myst-nb as `site_notebook` made it."
    if app.env.doc2path(docname).suffix == ".ipynb":
        source[0] = nbformat.writes(site_notebook(nbformat.reads(source[0], as_version=4), docname))


_MD_SPAN = re.compile(r"(`+[^`]+?`+|\$[^$\s][^$]*\$)")  # a markdown code span, or $math$


def markdown_to_rst(line: str) -> str:
    "One line of an nbdev docstring (markdown: `code`, $math$) as reStructuredText, which autodoc parses."
    out, parts = [], _MD_SPAN.split(line)  # text, span, text, span, ..., text
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(re.sub(r"([\\*|]|_(?=\W|$))", r"\\\1", part))  # RST's emphasis, substitution, reference marks
            continue
        span = "``" + part.strip("`") + "``" if part.startswith("`") else f":math:`{part[1:-1]}`"
        if out and re.search(r"\w$", out[-1]): span = "\\ " + span  # `a`s: RST needs a boundary, \  gives one
        out.append(span)
        if re.match(r"\w", parts[i + 1]): out.append("\\ ")
    return "".join(out)


def markdown_docstring(app, what, name, obj, options, lines: list[str]):
    "Sphinx's `autodoc-process-docstring` hook: nbdev's markdown docstrings, rewritten line by line for autodoc."
    if what == "data": lines.clear()  # an exported constant has no docstring; autodoc would show its type's (dict's…)
    lines[:] = [markdown_to_rst(l) for l in lines]
