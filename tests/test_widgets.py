"""The widgets driven from code, in both modes: sliders set, buttons clicked, the figures' data must change.

Interactive mode draws plotly `FigureWidget`s, static mode matplotlib `Figure`s; the checks read the
figure objects themselves. The models are small and untrained (the mechanics, not the pictures,
are under test). Also: which mode a papermill run gets, and no committed notebook carries widget state.
"""
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import papermill as pm
import pytest
import torch
from torch import nn

from restok_nb.generator import GPTConfig, HARGenerator
from restok_nb.har import har_mask
from restok_nb.levels import level_sizes
from restok_nb.quantizer import level_code_stats
from restok_nb.tokenizer import encoder_stages, from_preset
from restok_nb.widgets import (WIDGET_VIEW, entropy_dashboard, level_explorer, level_sampler, mask_viewer, set_mode,
                               strip_widget_state, widget_mode)

ROOT = Path(__file__).resolve().parents[1]
MODES = ["static", "interactive"]


@pytest.fixture(scope="module")
def tok():
    torch.manual_seed(0)
    return from_preset("tiny", width=64, enc_layers=4, dec_layers=2, num_heads=4).eval()


@pytest.fixture(scope="module")
def har(tok):
    "A small generator with a random (non-zero) output head, so samples depend on the seed."
    torch.manual_seed(0)
    model = HARGenerator(GPTConfig(vocab_size=tok.config.codebook_size, num_latent_tokens=tok.num_tokens, num_classes=10,
                                   dim=32, n_layer=2, n_head=4)).eval()
    nn.init.normal_(model.output.weight, std=0.5)
    return model


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def picture(view, i: int) -> np.ndarray:
    "The pixels panel `i` of the view's figure shows, read from the plotly or matplotlib figure itself."
    canvas = next(iter(view.canvases.values()))
    if view.mode == "interactive":
        z = canvas.fig.data[canvas.traces[i][0]].z
        return np.asarray(np.where(np.equal(z, None), np.nan, z) if isinstance(z, tuple) else z, dtype=float)
    return np.asarray(canvas.axes[i].images[0].get_array(), dtype=float)


def curve(view, i: int, series: int = 0) -> np.ndarray:
    "The y values of line/bar series `series` of panel `i`, read from the figure itself."
    canvas = next(iter(view.canvases.values()))
    if view.mode == "interactive":
        return np.asarray(canvas.fig.data[canvas.traces[i][series]].y, dtype=float)
    ax = canvas.axes[i]
    return np.asarray(ax.lines[series].get_ydata() if ax.lines else [b.get_height() for b in ax.containers[series]])


def title(view) -> str:
    canvas = next(iter(view.canvases.values()))
    return canvas.fig.layout.title.text if view.mode == "interactive" else canvas.fig.get_suptitle()


def check_kind(view, mode):
    fig = next(iter(view.figures.values()))
    assert type(fig).__name__ == ("FigureWidget" if mode == "interactive" else "Figure")
    bundle = view._repr_mimebundle_()
    if mode == "interactive":
        assert WIDGET_VIEW in bundle
    else:
        assert "<img src=\"data:image/png;base64," in bundle["text/html"] and WIDGET_VIEW not in bundle
    assert type(view.widget).__name__ == "VBox"


def test_mode_rules(monkeypatch):
    monkeypatch.delenv("RESTOK_WIDGETS", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert widget_mode() == "static"                           # pytest: no kernel, no front end
    monkeypatch.setenv("JPY_SESSION_NAME", "x.ipynb")
    assert widget_mode() == "static"                           # ... still no kernel
    monkeypatch.setenv("RESTOK_WIDGETS", "interactive")
    assert widget_mode() == "interactive"
    set_mode("static")
    try:
        assert widget_mode() == "static"                       # set_mode beats the environment
        assert widget_mode("interactive") == "interactive"     # the argument beats both
    finally:
        set_mode("auto")
    monkeypatch.setenv("RESTOK_WIDGETS", "sometimes")
    with pytest.raises(ValueError, match="RESTOK_WIDGETS='sometimes'"):
        widget_mode()


@pytest.mark.parametrize("mode", MODES)
def test_level_explorer(tok, images, mode):
    ex = level_explorer(tok, images, num_tokens=4, mode=mode)
    check_kind(ex, mode)
    P = tok.prefixes
    rec4, adds4, psnr_curve = picture(ex, 1), picture(ex, 2), curve(ex, 3)
    assert np.allclose(psnr_curve, [ex.psnr[k] for k in P])
    assert "first 4 of 32 tokens" in title(ex) and "token ids at prefix 4" in ex.text.value
    ex.slider.value = 16
    assert not np.array_equal(picture(ex, 1), rec4) and not np.array_equal(picture(ex, 2), adds4)
    assert np.array_equal(picture(ex, 0), picture(ex, 0))       # the input stays
    assert "first 16 of 32 tokens" in title(ex) and "token ids at prefix 16" in ex.text.value
    for k in P:                                                # every slider position draws
        ex.slider.value = k
    assert curve(ex, 3, series=1).tolist() == [ex.psnr[32]]    # the ring sits on k = N
    assert len(ex.images) == 3 and ex.ids.shape == (3, 32)
    with pytest.raises(ValueError, match="choose one of"):
        level_explorer(tok, images, num_tokens=5, mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_entropy_dashboard(tok, images, mode):
    torch.manual_seed(1)
    other = from_preset("tiny", width=64, enc_layers=4, dec_layers=2, num_heads=4, residual_latent_tokens=False).eval()
    x = torch.rand(24, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ed = entropy_dashboard(tok, x, other=other, names=["ResTok", "no residual latents"], mode=mode)
    check_kind(ed, mode)
    with torch.inference_mode():
        ids = tok.encode(x)[1]["indices"]
    want = [s["entropy_bits"] for s in level_code_stats(ids, tok.config.codebook_size)]
    assert np.allclose(curve(ed, 0, 0), want)                  # panel 0: entropy bars of the first tokenizer
    assert np.allclose(curve(ed, 0, 2), ed.bound)              # ... and the ceiling
    top = curve(ed, 2, 0)
    assert top.sum() == 24 * 16 and np.all(np.diff(top) <= 0)  # level 5 (16 tokens/image), sorted by count
    ed.controls["level"].value = 0
    assert curve(ed, 2, 0).sum() == 24                          # level 0: one token per image
    ed.controls["sorted"].value = False
    assert np.array_equal(curve(ed, 2, 0), np.bincount(ids[:, 0].numpy(), minlength=256))
    assert "level 0 has 1 token(s)" in title(ed) and "no residual latents" in ed.text.value
    with pytest.raises(ValueError, match="different numbers of tokens"):
        entropy_dashboard(tok, x, other=from_preset("tiny", num_latent_tokens=16), mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_level_sampler(tok, har, mode):
    ls = level_sampler(tok, har, class_names=list("abcdefghij"), num_samples=2, cfg_scale=1.5, top_k=50, seed=5,
                       mode=mode)
    check_kind(ls, mode)
    blank = picture(ls, 0)
    ls.controls["class"].value = 3
    for _ in range(3):
        ls.buttons["next level"].click()
    assert ls.tokens.shape == (2, 4) and ls.passes == 4 and sorted(ls.images) == [1, 2, 4]
    assert not np.array_equal(picture(ls, 0), blank)           # the strip shows level 0's image now
    assert np.array_equal(picture(ls, 3), blank)               # ... and nothing yet for 8 tokens
    assert "level 2 done" in title(ls) and "forward passes 4/7" in title(ls)
    kept, last = ls.tokens[:, :2].clone(), ls.tokens[:, 2:].clone()
    level2 = picture(ls, 2)
    ls.buttons["resample level"].click()
    assert torch.equal(ls.tokens[:, :2], kept) and not torch.equal(ls.tokens[:, 2:], last)
    assert not np.array_equal(picture(ls, 2), level2)
    ls.buttons["run to end"].click()
    assert ls.done and ls.passes == har.num_forward_passes and sorted(ls.images) == tok.prefixes
    # a fresh run of clicks, without resampling, is exactly generate() with the same seed and settings
    ls.buttons["restart"].click()
    assert ls.tokens.shape == (2, 0) and np.array_equal(picture(ls, 0), blank)
    ls.buttons["next level"].click()
    ls.buttons["run to end"].click()
    ref = har.generate(torch.full((2,), 3), cfg_scale=1.5, top_k=50, generator=torch.Generator().manual_seed(5))
    assert torch.equal(ls.tokens, ref)
    # a new seed restarts; new settings apply from the next level, after the levels kept
    ls.controls["seed"].value = 6
    assert ls.tokens.shape == (2, 0)
    ls.buttons["next level"].click(); ls.buttons["next level"].click(); ls.buttons["next level"].click()
    ls.controls["temperature"].value = 0.5
    ls.buttons["run to end"].click()
    assert ls.settings["temperature"] == 0.5 and ls.done


@pytest.mark.parametrize("mode", MODES)
def test_mask_viewer(tok, har, mode):
    mv = mask_viewer(tok, har, mode=mode)
    check_kind(mv, mode)
    final, gen = picture(mv, 0), picture(mv, 1)
    assert final.shape == (sum(encoder_stages(tok.config)[-1][0]),) * 2
    assert np.isnan(gen).sum() == int((~har_mask(32, 4).isfinite()).sum())
    mv.controls["merges"].value = 0
    assert picture(mv, 0).shape == (64 + 32, 64 + 32)         # before any merge: 8×8 image tokens, then N
    assert np.array_equal(picture(mv, 1), gen, equal_nan=True)
    only_gen = mask_viewer(generator=har.cfg, mode=mode)        # a config is enough
    assert "merges" not in only_gen.controls and picture(only_gen, 0).shape == (32, 32)


def test_papermill_runs_get_pictures_and_no_widget_state(tmp_path):
    """papermill's kernel has no front end: static pictures, no widget state; JPY_SESSION_NAME makes it interactive."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in [
        "import os; os.environ.pop('JPY_SESSION_NAME', None); os.environ.pop('RESTOK_WIDGETS', None)\n"
        "from restok_nb.generator import GPTConfig\nfrom restok_nb.widgets import mask_viewer, widget_mode\n"
        "cfg = GPTConfig(num_latent_tokens=8)",
        "print(widget_mode())\nmask_viewer(generator=cfg)",
        "os.environ['JPY_SESSION_NAME'] = 'as/if/jupyterlab.ipynb'   # what jupyter_server gives its kernels\n"
        "print(widget_mode())\nmask_viewer(generator=cfg)"]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    env = {k: os.environ.pop(k) for k in ("JPY_SESSION_NAME", "RESTOK_WIDGETS") if k in os.environ}
    try:
        pm.execute_notebook(str(src), str(out), kernel_name="python3", progress_bar=False, cwd=str(ROOT))
    finally:
        os.environ.update(env)
    done = json.loads(out.read_text())
    static, interactive = done["cells"][1]["outputs"], done["cells"][2]["outputs"]
    assert "".join(static[0]["text"]) == "static\n" and "".join(interactive[0]["text"]) == "interactive\n"
    assert [o["output_type"] for o in static + interactive].count("stream") == 2   # no warning (e.g. NaN in JSON)
    assert "<img src=\"data:image/png;base64," in "".join(static[1]["data"]["text/html"])
    assert WIDGET_VIEW in interactive[1]["data"]
    # the interactive widgets' state was saved by papermill; strip_widget_state removes it and the widget output
    assert "widgets" in done["metadata"]
    assert strip_widget_state(done) and "widgets" not in done["metadata"]
    assert all(WIDGET_VIEW not in o.get("data", {}) for c in done["cells"] for o in c.get("outputs", []))


def test_committed_notebooks_carry_no_widget_state():
    """nbdev_clean keeps widget state; a notebook saved with it must be cleaned with `strip_widget_state`."""
    found = []
    for path in sorted([*ROOT.glob("nbs/*.ipynb"), *ROOT.glob("tutorials/*.ipynb")]):
        nb = json.loads(path.read_text())
        if strip_widget_state(nb):
            found.append(path.relative_to(ROOT))
        big = [len(json.dumps(o)) for c in nb["cells"] for o in c.get("outputs", []) if len(json.dumps(o)) > 500_000]
        assert not big, f"{path.relative_to(ROOT)} has outputs of {big} bytes: clear them (nbdev_clean --clear_all)"
    assert not found, (f"widget state in {found}: strip it with `python -c \"from restok_nb.widgets import "
                       f"strip_widget_state; strip_widget_state('nbs/NAME.ipynb')\"`, then run nbdev_clean")
