"""Re-execute the tutorials at their defaults and write each one back with its outputs.

    python tutorials/run_all.py           # every tutorial in COMMITTED (those that run at their defaults in minutes)
    python tutorials/run_all.py 02 04     # some of them, by number

Each notebook runs under papermill in the project root with no parameters, exactly as a reader's
`papermill tutorials/NN_name.ipynb out.ipynb` does; then it is cleaned the way `nbdev_clean` cleans
`nbs/` (cell ids, metadata, execution counts; outputs kept), its widget state is stripped
(`restok_nb.views.strip_widget_state`), and it is written back in place if it stays under
MAX_BYTES. tests/test_tutorials.py executes the same tutorials and checks that what is committed is
what they output now. Run it again after re-shipping a model (`restok_nb.pretrained.ship`): the
committed outputs show the shipped models' pictures and figures.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
COMMITTED = ["01_why_residual_levels", "02_tokenize_and_reconstruct", "03_quantizer_and_entropy", "04_har_9_steps",
             "05_train_your_own", "08_semantic_residuals"]   # 06 needs the paper's weights on the machine, 07 trains for an hour
MAX_BYTES = 1_000_000          # a committed tutorial, outputs included
PICTURE = "image/png"


def clean(nb: dict) -> dict:
    "`nb` as it is committed: nbdev_clean's rules (outputs kept), no widget state, no papermill metadata."
    from nbdev.clean import clean_nb
    from restok_nb.views import strip_widget_state
    strip_widget_state(nb)
    nb["metadata"].pop("papermill", None)
    clean_nb(nb, clear_all=False, allowed_metadata_keys=[], allowed_cell_metadata_keys=["tags"], clean_ids=True)
    for cell in nb["cells"]:
        tags = [t for t in cell["metadata"].get("tags", []) if t != "papermill-error-cell-tag"]
        if tags: cell["metadata"]["tags"] = tags
        else: cell["metadata"].pop("tags", None)
        if "outputs" in cell: cell["outputs"] = merge_streams(cell["outputs"])
    return nb


def merge_streams(outputs: list[dict]) -> list[dict]:
    "Consecutive stream outputs of one name as one (the kernel sends a line at a time, at times that vary)."
    merged = []
    for o in outputs:
        if o["output_type"] == "stream" and merged and merged[-1]["output_type"] == "stream" \
                and merged[-1]["name"] == o["name"]:
            merged[-1]["text"] = "".join(merged[-1]["text"]) + "".join(o["text"])
        else:
            merged.append(dict(o, text="".join(o["text"])) if o["output_type"] == "stream" else o)
    for o in merged:
        if o["output_type"] == "stream": o["text"] = o["text"].splitlines(keepends=True)
    return merged


def pictures(nb: dict) -> int:
    "Outputs that show a picture: a PNG, or a static tool's HTML with its PNG inline."
    return sum(PICTURE in o.get("data", {}) or "data:image/png;base64" in "".join(o.get("data", {}).get("text/html", ""))
               for c in nb["cells"] for o in c.get("outputs", []))


def dumps(nb: dict) -> str:
    "The notebook's text, as nbdev writes notebooks (one-space indent, UTF-8, final newline)."
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def execute(name: str, out: Path, **parameters) -> dict:
    "Run tutorials/`name`.ipynb at its defaults (or `parameters`) into `out`; return the cleaned notebook."
    import papermill as pm
    pm.execute_notebook(str(TUTORIALS / f"{name}.ipynb"), str(out), parameters=parameters, cwd=str(ROOT),
                        kernel_name="python3", progress_bar=False)
    return clean(json.loads(out.read_text(encoding="utf-8")))


def output_kinds(nb: dict) -> list[list[str]]:
    "Per code cell, the kinds of output it has (mime types, stream names): what a stale committed copy gets wrong."
    kinds = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code": continue
        k = set()
        for o in cell.get("outputs", []):
            k |= {o["name"]} if o["output_type"] == "stream" else set(o.get("data", {}))
        kinds.append(sorted(k))
    return kinds


def printed_words(nb: dict) -> list[str]:
    """Per code cell, what it printed (stdout) with every number as `#` and a temporary folder as `<tmp>`: the words
    of a stale committed copy differ; timings and the last digits of a figure may differ from machine to machine."""
    words = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code": continue
        t = "".join("".join(o["text"]) for o in cell.get("outputs", [])
                    if o["output_type"] == "stream" and o["name"] == "stdout")
        t = re.sub(r"\S*restok_train_your_own_[^/\s]+", "<tmp>", t)
        t = re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "#", t)
        t = re.sub(r"#(\s*,\s*#)+", "#", t)                   # a list of numbers, whatever its length
        t = re.sub(r"\[\s*\]", "[#]", t)
        words.append(re.sub(r"[ \t]+", " ", t))
    return words


def problems(nb: dict, text: str) -> list[str]:
    "What keeps an executed tutorial from being committed: its size, widget state, error outputs."
    bad = []
    if len(text.encode()) > MAX_BYTES:
        bad.append(f"{len(text.encode()) / 1e6:.2f} MB with outputs (at most {MAX_BYTES / 1e6:.0f} MB): "
                   f"make its pictures smaller or fewer")
    if "widgets" in nb["metadata"] or "application/vnd.jupyter.widget-view+json" in text:
        bad.append("widget state left in the notebook")
    if any(o["output_type"] == "error" for c in nb["cells"] for o in c.get("outputs", [])):
        bad.append("an error output")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", nargs="*", help="tutorial numbers or names (default: all of COMMITTED)")
    args = ap.parse_args(argv)
    names = []
    for w in args.which or COMMITTED:
        match = [n for n in COMMITTED if n == w or n.split("_")[0] == w.zfill(2)]
        if not match:
            ap.error(f"{w!r} is not one of the committed tutorials {COMMITTED} (by number or name)")
        names += match
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            t0 = time.time()
            nb = execute(name, Path(tmp) / f"{name}.ipynb")
            text, seconds = dumps(nb), time.time() - t0
            if bad := problems(nb, text):
                failed.append(name)
                print(f"{name}: NOT written ({'; '.join(bad)})")
                continue
            (TUTORIALS / f"{name}.ipynb").write_text(text, encoding="utf-8")
            print(f"{name}: {seconds:.0f} s, {len(text.encode()) / 1e3:.0f} kB, {pictures(nb)} pictures: written")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
