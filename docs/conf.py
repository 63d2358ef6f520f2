"""Sphinx configuration of the documentation site, built from the repository root into `_site/html/`:

    sphinx-build -W --keep-going -c docs -d _site/doctrees . _site/html

The source folder is the repository root, narrowed to the notebooks (`nbs/`, `tutorials/`) and the
API pages that this file writes into `docs/api/` (git-ignored), one per module of `restok_nb`.
myst-nb reads the notebooks (`docs/nbdev_reader.py` turns nbdev's `#|` directives into its tags),
executes `nbs/` at build time and renders `tutorials/` with the outputs they carry; furo is the theme;
MathJax comes from the `sphinx-mathjax-offline` package into `_site/html/_static/mathjax/`, so no page asks
another host for anything (tests/test_docs.py checks that in Chromium).
"""
import importlib
import inspect
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS)]  # restok_nb for autodoc; nbdev_reader
from nbdev_reader import FRONT_PAGE, markdown_docstring, on_source_read, settings

# Execute the tutorials too (they train or load models: minutes today; seconds once they ship models)?
# RESTOK_DOCS_EXECUTE_TUTORIALS=1 for one build; this default for all.
EXECUTE_TUTORIALS = os.environ.get("RESTOK_DOCS_EXECUTE_TUTORIALS", "0") == "1"

_ini = settings()
project, author, copyright = _ini["title"], _ini["author"], _ini["copyright"]
release = version = _ini["version"]

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.viewcode",
              "sphinx-mathjax-offline"]  # MathJax 3 from the package, copied into _static/mathjax

root_doc = FRONT_PAGE
include_patterns = ["nbs/*.ipynb", "tutorials/*.ipynb", "docs/api/*.rst"]
exclude_patterns = ["nbs/_*", "tutorials/_*", "**/.ipynb_checkpoints",  # nbdev's scratch notebooks start with _
                    ".*", "_*", "build", "dist"]  # not walked: virtual environments, .git, _runs, _site

# MyST: $…$ and $$…$$ math, ::: fences for directives in markdown cells
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3  # [text](#a-heading) links in the notebooks resolve
nb_execution_mode = "force"  # Sphinx re-reads only changed pages, so a rebuild executes only those
nb_execution_excludepatterns = [] if EXECUTE_TUTORIALS else ["tutorials/*"]
nb_execution_timeout = 600
nb_execution_raise_on_error = True  # a notebook that fails fails the build
nb_execution_show_tb = True
nb_ipywidgets_js = {}  # no RequireJS/html-manager from a CDN (the tools draw static figures here anyway)
nb_merge_streams = True
os.environ.setdefault("RESTOK_WIDGETS", "static")  # the kernels inherit it: matplotlib figures, no widget state
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.pop("MPLBACKEND", None)  # CI sets Agg; the kernels must keep their inline backend to show figures

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}

html_theme = "furo"
html_title = f"{project} {release}"
html_static_path = []
html_copy_source = False  # no _sources/ copies of the notebooks: the site is the rendered pages
suppress_warnings = ["mystnb.unknown_mime_type"]


def modules() -> list[tuple[str, str, str]]:
    "(module, source notebook stem, first docstring line) for each `restok_nb/*.py` nbdev wrote, in notebook order."
    found = []
    for py in (ROOT / "restok_nb").glob("*.py"):
        m = re.search(r"File to edit: \.\./nbs/(\w+)\.ipynb", py.read_text(encoding="utf-8"))
        if m:
            doc = re.match(r'\s*"""(.*?)(?:"""|\n)', py.read_text(encoding="utf-8"))
            found.append((py.stem, m[1], doc[1].strip() if doc else ""))
    return sorted(found, key=lambda t: t[1])


def write_api_pages(app):
    "Write docs/api/<module>.rst (autodoc of the module's exports) and docs/api/index.rst; unchanged files are left alone."
    api = DOCS / "api"
    api.mkdir(exist_ok=True)
    title = lambda text: f"{text}\n{'=' * len(text)}\n\n"
    pages = {"index": title("API") + "One page per module; `nbdev_export` writes each module from its notebook.\n\n"
                      + "".join(f"* :doc:`restok_nb.{mod} <{mod}>` — {doc}\n" for mod, _, doc in modules())
                      + "\n.. toctree::\n   :hidden:\n\n" + "".join(f"   {mod}\n" for mod, _, _ in modules())}
    for mod, nb, doc in modules():  # :members: of a module with __all__: nbdev's exported classes and functions
        module = importlib.import_module(f"restok_nb.{mod}")
        data = [n for n in module.__all__ if not (inspect.isclass(v := getattr(module, n)) or callable(v))]
        pages[mod] = (title(f"restok_nb.{mod}") + f"Written from its notebook, :doc:`/nbs/{nb}`.\n\n"
                      f".. automodule:: restok_nb.{mod}\n   :members:\n   :undoc-members:\n\n"
                      + "".join(f".. autodata:: restok_nb.{mod}.{n}\n"  # the exported constants, which :members: leaves out
                                + ("   :no-value:\n" if len(repr(getattr(module, n))) > 80 else "") for n in data))
    for path in api.iterdir():
        if path.stem not in pages or path.suffix != ".rst": path.unlink()  # a module gone, an older format
    for name, text in pages.items():
        path = api / f"{name}.rst"
        if not path.exists() or path.read_text(encoding="utf-8") != text: path.write_text(text, encoding="utf-8")


def write_root_redirect(app, exc):
    "The site's index.html sends the browser on to the front page (the root document lives at nbs/index.html)."
    if exc is None and app.builder.format == "html":
        (Path(app.outdir) / "index.html").write_text(
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{project}</title>'
            f'<meta http-equiv="refresh" content="0; url={FRONT_PAGE}.html"></head>'
            f'<body><a href="{FRONT_PAGE}.html">{project}</a></body></html>\n', encoding="utf-8")


def setup(app):
    app.connect("builder-inited", write_api_pages)
    app.connect("source-read", on_source_read)
    app.connect("autodoc-process-docstring", markdown_docstring)  # nbdev docstrings are markdown
    app.connect("build-finished", write_root_redirect)
