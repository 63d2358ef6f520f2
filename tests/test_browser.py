"""A real browser runs a tutorial in JupyterLab and moves its level slider: the picture must change.

JupyterLab serves a temporary copy of the tutorial on 127.0.0.1 (a free port, token auth, no
network); Debian's Chromium, headless and driven by Playwright, opens it, clicks **Run > Run All
Cells** in the menu bar, waits until every code cell has an execution count and the kernel is idle,
focuses the slider's handle (ipywidgets 8 draws a noUiSlider: `.widget-slider .noUi-handle`,
`role="slider"`), presses an arrow key (→, or ← at the last position), and compares screenshots of
the pictures in that cell's output before and after: the tool's matplotlib figure, a PNG shown by an
ipywidgets `Image` (`img.widget-image`). The screenshots stay in `_runs/browser/` (git-ignored).

Skips where `/usr/bin/chromium` (`apt-get install chromium`) or the `playwright` package is missing;
Playwright never downloads a browser here.
"""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

ROOT = Path(__file__).resolve().parents[1]
from conftest import CHROMIUM
SHOTS = ROOT / "_runs" / "browser"
TUTORIAL = ROOT / "tutorials" / "02_tokenize_and_reconstruct.ipynb"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: `apt-get install -y chromium` (Debian) to run the browser test",
                allow_module_level=True)
sync_playwright = pytest.importorskip("playwright.sync_api", reason="the `playwright` package is not installed "
                                      "(pip install -e '.[dev]')").sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str):
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving an empty temporary folder: `(base_url, token, root_dir)`."""
    root = tmp_path_factory.mktemp("lab")
    conf = tmp_path_factory.mktemp("lab_conf")
    notify = conf / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notify.parent.mkdir(parents=True)
    notify.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))  # no news toast, no fetch
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JUPYTER_CONFIG_DIR": str(conf / "config"),
           "IPYTHONDIR": str(conf / "ipython")}
    env.pop("MPLBACKEND", None)  # CI sets Agg; the kernel must keep its inline backend to draw figures
    env.pop("RESTOK_WIDGETS", None)  # the widgets must detect the browser (restok_nb.widgets.widget_mode)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={conf / 'settings'}",
           f"--LabApp.workspaces_dir={conf / 'workspaces'}"] + (["--allow-root"] if os.geteuid() == 0 else [])
    log = open(conf / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{(conf / 'server.log').read_text()[-3000:]}")
            try:
                _get(f"{base}/api/status", token)
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"JupyterLab did not answer in 90 s:\n{(conf / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, token, root
    finally:
        proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the server's own process group (start_new_session)
            proc.wait()
        log.close()



def _wait_kernel_idle(base: str, token: str, timeout: float = 90):
    deadline, kernels = time.time() + timeout, None
    while time.time() < deadline:
        try:
            kernels = _get(f"{base}/api/kernels", token)
        except urllib.error.HTTPError as e:  # a kernel being started or culled can make one listing fail (CI saw a 500)
            if e.code < 500: raise
            kernels = f"HTTP {e.code} from /api/kernels"
            time.sleep(0.5)
            continue
        if kernels and all(k["execution_state"] == "idle" for k in kernels):
            return
        time.sleep(0.5)
    raise AssertionError(f"the kernel did not become idle in {timeout} s: {kernels}")


# every code cell's prompt, and the text of any error output, read from the page in one go
_PROMPTS_JS = """() => ({
  prompts: [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
           .map(e => e.textContent.trim()),
  errors: [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) '
           + '[data-mime-type="application/vnd.jupyter.error"]')].map(e => e.textContent.slice(-2000)),
})"""


def run_all_cells(page, base: str, token: str, timeout: float):
    """Run > Run All Cells from the menu bar; return when every code cell shows `[n]:` (fail on an error output)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    deadline = time.time() + timeout
    while True:
        state = page.evaluate(_PROMPTS_JS)
        assert not state["errors"], "a cell raised:\n" + "\n".join(state["errors"])
        if state["prompts"] and all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"]):
            break
        assert time.time() < deadline, f"cells still running after {timeout} s: {state['prompts']}"
        time.sleep(1)
    _wait_kernel_idle(base, token)


def _shots(pictures, stem: str) -> list[bytes]:
    return [pictures.nth(i).screenshot(path=str(SHOTS / f"{stem}_{i}.png"), animations="disabled")
            for i in range(pictures.count())]


def slide_and_compare(page, cell_marker: str, stem: str, timeout: float = 30):
    """Press → (← at the end) on the first slider shown by the first cell whose source contains `cell_marker`.

    Returns `(value_before, value_after, changed)` where `changed` lists the indices of the pictures
    (the ipywidgets `Image`s showing the figure) whose screenshots differ; the screenshots are
    `_runs/browser/{stem}_*.png`.
    """
    out = page.locator(".jp-CodeCell", has=page.locator(".jp-InputArea", has_text=cell_marker)) \
              .filter(has=page.locator(".widget-slider")).first.locator(".jp-Cell-outputArea")
    handle = out.locator(".widget-slider .noUi-handle").first
    handle.wait_for(state="visible", timeout=60_000)
    pictures = out.locator("img.widget-image")  # ipywidgets' Image view: <img class="jupyter-widgets widget-image">
    pictures.first.wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(1500)  # let the browser finish decoding and drawing the picture
    out.screenshot(path=str(SHOTS / f"{stem}_output_before.png"), animations="disabled")
    before = _shots(pictures, f"{stem}_before")
    value = handle.get_attribute("aria-valuenow")
    at_end = float(value) >= float(handle.get_attribute("aria-valuemax"))
    handle.focus()
    handle.press("ArrowLeft" if at_end else "ArrowRight")  # noUiSlider's keyboard step: one position
    deadline, changed = time.time() + timeout, []
    while time.time() < deadline and not changed:
        page.wait_for_timeout(1000)
        after = _shots(pictures, f"{stem}_after")
        changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    page.wait_for_timeout(500)
    out.screenshot(path=str(SHOTS / f"{stem}_output_after.png"), animations="disabled")
    return value, handle.get_attribute("aria-valuenow"), changed


def open_notebook(browser, base: str, token: str, name: str):
    """A new page showing notebook `name` (relative to the server's root) with its kernel started and idle."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/lab/tree/{name}?reset&token={token}")  # ?reset: no saved workspace layout
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=90_000)
    _wait_kernel_idle(base, token)
    return page


def test_level_slider_changes_the_picture(lab, browser):
    base, token, root = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    # a temporary copy without the committed outputs, whose injected parameters cell (papermill's) shows two
    # digits; the models are the ones shipped in restok_nb (the tutorial's defaults)
    nb = parameterize_notebook(load_notebook_node(str(TUTORIAL)), dict(num_images=2))
    for cell in nb.cells:
        if cell.cell_type == "code": cell.outputs = []
    nbformat.write(nb, root / TUTORIAL.name)
    page = open_notebook(browser, base, token, TUTORIAL.name)
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    try:
        run_all_cells(page, base, token, timeout=180)
        before, after, changed = slide_and_compare(page, "level_explorer(", "tutorial")
    except Exception:
        page.screenshot(path=str(SHOTS / "tutorial_failure.png"), full_page=True)
        (SHOTS / "tutorial_console.txt").write_text("\n".join(console))
        raise
    assert after != before, f"the slider did not move (aria-valuenow {before} -> {after})"
    assert changed, f"the pictures did not change after the slider moved {before} -> {after}; see {SHOTS}"
