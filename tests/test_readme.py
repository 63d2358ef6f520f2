"""README.md is `nbs/index.ipynb` rendered as GitHub markdown: the docs' home page and the README say the same.

nbdev's `nbdev_readme` renders the index notebook through Quarto, which cannot be installed offline
(PyPI's `quarto-cli` is a source package that downloads the binary from GitHub while it builds).
`render_readme` follows the same rules without it: markdown cells as they are, code cells as
```python blocks, `#|` directive lines dropped, `#| hide` cells left out, outputs left out.
Edit the notebook, then `python tests/test_readme.py` rewrites README.md.
"""
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
README, INDEX = ROOT / "README.md", ROOT / "nbs" / "index.ipynb"


def render_readme(nb_path: Path = INDEX) -> str:
    "The README text made from the notebook at `nb_path`."
    parts = []
    for cell in nbformat.read(nb_path, as_version=4).cells:
        lines = cell.source.splitlines()
        if cell.cell_type == "code":
            if any(re.fullmatch(r"#\|\s*hide\s*", l) for l in lines): continue
            code = "\n".join(l for l in lines if not l.startswith("#|")).strip()
            if code: parts.append(f"```python\n{code}\n```")
        elif cell.cell_type == "markdown" and cell.source.strip():
            parts.append(cell.source.strip())
    return "\n\n".join(parts) + "\n"


def test_readme_is_the_rendered_index_notebook():
    assert README.read_text() == render_readme(), \
        "README.md differs from nbs/index.ipynb: edit the notebook, then run `python tests/test_readme.py`"


def test_ci_finds_both_commands():
    "Each marker .ci/run looks for is followed by a ```bash block holding one command line."
    text = README.read_text()
    for marker in ("main-command", "test-command"):
        m = re.search(rf"^<!-- {marker} -->\n```bash\n(.+)\n```$", text, flags=re.M)
        assert m and "pip install" in m.group(1), f"README has no ```bash block right after <!-- {marker} -->"


def test_readme_says_how_to_re_execute_the_tutorials():
    "The command after <!-- tutorials-command --> runs the script that writes the committed tutorials."
    m = re.search(r"^<!-- tutorials-command -->\n```bash\n(.+)\n```$", README.read_text(), flags=re.M)
    assert m and "python tutorials/run_all.py" in m.group(1), "README has no tutorials command"
    assert (ROOT / "tutorials" / "run_all.py").is_file()


if __name__ == "__main__":
    README.write_text(render_readme())
    print(f"wrote {README.relative_to(ROOT)} from {INDEX.relative_to(ROOT)}", file=sys.stderr)
