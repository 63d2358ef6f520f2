"""The widgets driven from code, in both modes: controls set, buttons clicked, the figures' data must change.

Every tool draws into its own matplotlib `Figure` (`tool.fig`); the checks read its axes. Static mode
must build no ipywidget at all; interactive mode shows the figure in a `W.Image`, whose PNG must
follow every change. The models are small and untrained (the mechanics, not the pictures, are under
test). Also: which mode a papermill run gets, and no committed notebook carries widget state.
"""
import copy
import json
import os
from pathlib import Path

import ipywidgets as W
import nbformat
import numpy as np
import papermill as pm
import pytest
import torch
from ipywidgets.widgets.widget import _instances as widget_instances
from matplotlib.figure import Figure
from torch import nn

from restok_nb.generator import GPTConfig, HARGenerator
from restok_nb.har import har_mask
from restok_nb.quantizer import level_code_stats
from restok_nb.tokenizer import encoder_stages, from_preset
from restok_nb.views import WIDGET_VIEW, Setting, set_mode, strip_widget_state, widget_mode
from restok_nb.widgets import contribution_map, entropy_dashboard, level_explorer, level_sampler, mask_viewer, token_contributions

ROOT = Path(__file__).resolve().parents[1]
MODES = ["static", "interactive"]
PNG = b"\x89PNG\r\n\x1a\n"


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


def pixels(ax) -> np.ndarray:
    "The picture an `Axes` shows (masked entries as NaN), read from the matplotlib figure."
    return np.ma.filled(np.ma.asarray(ax.images[0].get_array(), dtype=float), np.nan)


def heights(ax, series: int) -> np.ndarray:
    "The heights of the bars of series `series` of a grouped bar chart."
    return np.array([b.get_height() for b in ax.containers[series]])


def hwc(x: torch.Tensor) -> np.ndarray:
    return x.clamp(0, 1).permute(1, 2, 0).numpy()


def build(make, mode: str):
    "Build a tool with `make(mode)`; check what it built: no widget in static mode, a widget box showing the figure in interactive."
    before = len(widget_instances)
    tool = make(mode)
    assert tool.mode == mode and isinstance(tool.fig, Figure)
    bundle = tool._repr_mimebundle_()
    if mode == "static":
        assert len(widget_instances) == before, "a static tool made ipywidgets"
        assert tool.widget is None and all(isinstance(c, Setting) for c in tool.controls.values())
        assert '<img src="data:image/png;base64,' in bundle["text/html"] and WIDGET_VIEW not in bundle
        assert tool.text in bundle["text/html"]
    else:
        assert isinstance(tool.widget, W.VBox) and WIDGET_VIEW in bundle
        assert isinstance(tool.image, W.Image) and tool.image.format == "png"
        assert bytes(tool.image.value)[:8] == PNG and tool.html.value == tool.text   # the widgets show the figure and the text
        assert all(isinstance(c, W.ValueWidget) for c in tool.controls.values())
    return tool


def shown(tool) -> bytes | None:
    "The PNG the interactive widget shows now (None in static mode); its text must be the tool's."
    if tool.mode == "static":
        return None
    assert tool.html.value == tool.text
    return bytes(tool.image.value)


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
    ex = build(lambda m: level_explorer(tok, images, num_tokens=4, mode=m), mode)
    P = tok.prefixes
    inputs, rec4, adds4, png4 = pixels(ex.rows[0][0]), pixels(ex.rows[0][1]), pixels(ex.rows[0][2]), shown(ex)
    assert np.allclose(ex.curve.lines[0].get_ydata(), [ex.psnr[k] for k in P])
    assert np.allclose(inputs, hwc(images[0])) and np.allclose(rec4, hwc(ex.recs[4][0]))
    assert "first 4 of 32 tokens" in ex.fig.get_suptitle() and "token ids at prefix 4" in ex.text
    ex.controls["tokens"].value = 16                            # the slider (in static mode its stand-in)
    assert not np.array_equal(pixels(ex.rows[0][1]), rec4) and not np.array_equal(pixels(ex.rows[0][2]), adds4)
    assert np.allclose(pixels(ex.rows[0][1]), hwc(ex.recs[16][0]))
    assert np.allclose(pixels(ex.rows[0][2]), hwc(0.5 + 0.5 * (ex.recs[16][0] - ex.recs[8][0])))   # what level 4 adds
    assert np.array_equal(pixels(ex.rows[0][0]), inputs)       # the input stays
    assert "first 16 of 32 tokens" in ex.fig.get_suptitle() and "token ids at prefix 16" in ex.text
    if mode == "interactive":
        assert shown(ex) != png4                               # the picture in the notebook changed
    for k in P:                                                # every slider position draws
        ex.set(tokens=k)
    assert ex.curve.lines[1].get_xydata().tolist() == [[32, ex.psnr[32]]]   # the ring sits on k = N
    assert ex.slider.value == 32 and ex.values == {"tokens": 32}           # code moved the slider too
    if mode == "interactive":
        png32 = shown(ex)
        ex.slider.value = 32                                   # no change, no redraw
        assert shown(ex) == png32
    assert len(ex.images) == 3 and len(ex.rows) == 3 and ex.ids.shape == (3, 32)
    with pytest.raises(ValueError, match="choose one of"):
        ex.set(tokens=5)
    with pytest.raises(ValueError, match="choose one of"):
        level_explorer(tok, images, num_tokens=5, mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_contribution_map(tok, images, mode):
    cm = build(lambda m: contribution_map(tok, images, token=0, samples=2, mode=m), mode)
    N = tok.num_tokens
    assert cm.maps.shape == (3, N, 32, 32) and np.allclose(pixels(cm.rows[2][2]), cm.maps[2, 0].numpy())
    assert np.allclose([b.get_height() for b in cm.bars.patches], cm.maps.mean((0, 2, 3)).numpy())
    map0, png0 = pixels(cm.rows[0][2]), shown(cm)
    cm.controls["token"].value = 20                            # the slider (in static mode its stand-in)
    assert np.allclose(pixels(cm.rows[0][2]), cm.maps[0, 20].numpy()) and not np.array_equal(pixels(cm.rows[0][2]), map0)
    assert "token 20 of 32 (level 5, tokens 16–31)" in cm.fig.get_suptitle() and "<b>token 20</b>" in cm.text
    assert [i for i, b in enumerate(cm.bars.patches) if b.get_edgecolor() == (0, 0, 0, 1)] == [20]   # token 20 outlined
    if mode == "interactive":
        assert shown(cm) != png0
    with pytest.raises(ValueError, match="from 0 to 31"):
        contribution_map(tok, images, token=N, mode=mode)


def test_token_contributions_find_the_tokens_that_matter(tok, images):
    "A level the decoder cannot read (its embedding zeroed) changes nothing when its tokens are replaced; the others do."
    deaf = copy.deepcopy(tok)
    with torch.no_grad():
        deaf.decoder.decoder_embed[4].weight.zero_(); deaf.decoder.decoder_embed[4].bias.zero_()   # level 4: tokens 8-15
    maps = token_contributions(deaf, images[:2], samples=2, generator=torch.Generator().manual_seed(0))
    per_token = maps.amax((0, 2, 3))                           # (N,) the largest change each token makes
    assert torch.all(per_token[8:16] == 0)
    assert torch.all(per_token[:8] > 0) and torch.all(per_token[16:] > 0)


@pytest.mark.parametrize("mode", MODES)
def test_entropy_dashboard(tok, images, mode):
    torch.manual_seed(1)
    other = from_preset("tiny", width=64, enc_layers=4, dec_layers=2, num_heads=4, residual_latent_tokens=False).eval()
    x = torch.rand(24, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ed = build(lambda m: entropy_dashboard(tok, x, other=other, names=["ResTok", "no residual latents"], mode=m), mode)
    with torch.inference_mode():
        ids = tok.encode(x)[1]["indices"]
    want = [s["entropy_bits"] for s in level_code_stats(ids, tok.config.codebook_size)]
    assert np.allclose(heights(ed.axes[0], 0), want)            # entropy bars of the first tokenizer
    assert np.allclose(heights(ed.axes[0], 2), ed.bound)        # ... and the ceiling
    assert np.allclose(heights(ed.axes[1], 1), [s["perplexity"] for s in ed.stats["no residual latents"]])
    top = ed.axes[2].lines[0].get_ydata()
    assert top.sum() == 24 * 16 and np.all(np.diff(top) <= 0)  # level 5 (16 tokens/image), sorted by count
    before = shown(ed)
    ed.controls["level"].value = 0
    assert ed.axes[2].lines[0].get_ydata().sum() == 24         # level 0: one token per image
    ed.controls["sorted"].value = False
    assert np.array_equal(ed.axes[2].lines[0].get_ydata(), np.bincount(ids[:, 0].numpy(), minlength=256))
    assert ed.axes[2].get_xlabel() == "code id" and [l.get_label() for l in ed.axes[2].lines] == ed.names
    assert "level 0 has 1 token(s)" in ed.fig.get_suptitle() and "no residual latents" in ed.text
    if mode == "interactive":
        assert shown(ed) != before
    with pytest.raises(ValueError, match="different numbers of tokens"):
        entropy_dashboard(tok, x, other=from_preset("tiny", num_latent_tokens=16), mode=mode)


def continue_with(har, cond, seed, levels_end, settings, new_settings):
    "The tokens of a run sampled with `settings` up to token `levels_end`, then with `new_settings` from the same generator."
    rng = torch.Generator().manual_seed(seed)
    for step in har.sample_levels(cond, generator=rng, **settings):
        if step.level_done and step.end == levels_end:
            break
    for step in har.sample_levels(cond, generator=rng, prefix=step.tokens, **new_settings):
        pass
    return step.tokens


@pytest.mark.parametrize("mode", MODES)
def test_level_sampler(tok, har, mode):
    ls = build(lambda m: level_sampler(tok, har, class_names=list("abcdefghij"), num_samples=2, cfg_scale=1.5, top_k=50,
                                       seed=5, mode=m), mode)
    blank = pixels(ls.axes[0][0])
    assert np.allclose(blank, 0.92)                            # nothing sampled yet
    ls.controls["class"].value = 3
    for _ in range(3):
        ls.buttons["next level"].click()
    assert ls.tokens.shape == (2, 4) and ls.passes == 4 and sorted(ls.images) == [1, 2, 4]
    assert np.allclose(pixels(ls.axes[1][0]), hwc(ls.images[1][1]))  # the strip shows level 0's image of sample 1
    assert np.array_equal(pixels(ls.axes[0][3]), blank)        # ... and nothing yet for 8 tokens
    assert "class d: level 2 done" in ls.fig.get_suptitle() and "forward passes 4/7" in ls.fig.get_suptitle()
    kept, last, level2, png = ls.tokens[:, :2].clone(), ls.tokens[:, 2:].clone(), pixels(ls.axes[0][2]), shown(ls)
    ls.buttons["resample level"].click()
    assert torch.equal(ls.tokens[:, :2], kept) and not torch.equal(ls.tokens[:, 2:], last)
    assert not np.array_equal(pixels(ls.axes[0][2]), level2)
    if mode == "interactive":
        assert shown(ls) != png
    ls.buttons["run to end"].click()
    assert ls.done and ls.passes == har.num_forward_passes and sorted(ls.images) == tok.prefixes
    # a fresh run of clicks, without resampling, is exactly generate() with the same seed and settings
    ls.buttons["restart"].click()
    assert ls.tokens.shape == (2, 0) and np.array_equal(pixels(ls.axes[0][0]), blank)
    ls.buttons["next level"].click()
    ls.buttons["run to end"].click()
    ref = har.generate(torch.full((2,), 3), cfg_scale=1.5, top_k=50, generator=torch.Generator().manual_seed(5))
    assert torch.equal(ls.tokens, ref)
    # a new seed restarts; new settings apply from the next level, after the levels kept
    ls.controls["seed"].value = 6
    assert ls.tokens.shape == (2, 0) and ls.images == {}
    for _ in range(3):
        ls.buttons["next level"].click()
    ls.controls["temperature"].value = 0.5
    ls.buttons["run to end"].click()
    assert ls.settings == dict(cfg_scale=1.5, temperature=0.5, top_k=50, cfg_schedule="constant")
    want = continue_with(har, torch.full((2,), 3), 6, 4, dict(ls.settings, temperature=1.0), ls.settings)
    assert torch.equal(ls.tokens, want)
    assert f"seed 6, {ls.settings}" in ls.text and ls.text.count("<tr><td>") == len(tok.prefixes)


@pytest.mark.parametrize("mode", MODES)
def test_mask_viewer(tok, har, mode):
    mv = build(lambda m: mask_viewer(tok, har, mode=m), mode)
    final, gen = pixels(mv.axes[0]), pixels(mv.axes[1])
    assert final.shape == (sum(encoder_stages(tok.config)[-1][0]),) * 2
    assert np.isnan(gen).sum() == int((~har_mask(32, 4).isfinite()).sum())
    png = shown(mv)
    mv.controls["merges"].value = 0
    g = tok.config.grid_size                                     # tiny: 4
    assert pixels(mv.axes[0]).shape == (g * g + 32, g * g + 32)  # before any merge: g×g image tokens, then N
    assert np.array_equal(pixels(mv.axes[1]), gen, equal_nan=True)
    ticks = [t.get_text() for t in mv.axes[0].get_xticklabels()]
    assert ticks[0] == f"img {g}×{g}" and ticks[-1] == "L5"      # blocks labelled: the image grid, the levels
    if mode == "interactive":
        assert shown(mv) != png
    only_gen = build(lambda m: mask_viewer(generator=har.cfg, mode=m), mode)   # a config is enough
    assert only_gen.controls == {} and pixels(only_gen.axes[0]).shape == (32, 32)


def test_papermill_runs_get_pictures_and_no_widget_state(tmp_path):
    """papermill's kernel has no front end: static pictures, no widget made; JPY_SESSION_NAME makes it interactive."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in [
        "import os; os.environ.pop('JPY_SESSION_NAME', None); os.environ.pop('RESTOK_WIDGETS', None)\n"
        "from ipywidgets.widgets.widget import _instances\n"
        "from restok_nb.generator import GPTConfig\nfrom restok_nb.views import widget_mode\nfrom restok_nb.widgets import mask_viewer\n"
        "cfg = GPTConfig(num_latent_tokens=8)",
        "mv = mask_viewer(generator=cfg)\nprint(widget_mode(), len(_instances))\nmv",
        "os.environ['JPY_SESSION_NAME'] = 'as/if/jupyterlab.ipynb'   # what jupyter_server gives its kernels\n"
        "mv = mask_viewer(generator=cfg)\nprint(widget_mode(), len(_instances) > 0)\nmv"]]
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
    assert "".join(static[0]["text"]) == "static 0\n"          # not one ipywidget in the kernel
    assert "".join(interactive[0]["text"]) == "interactive True\n"
    assert [o["output_type"] for o in static + interactive].count("stream") == 2   # no warning
    assert "<img src=\"data:image/png;base64," in "".join(static[1]["data"]["text/html"])
    assert WIDGET_VIEW not in static[1]["data"] and WIDGET_VIEW in interactive[1]["data"]
    # only the interactive widgets' state was saved by papermill; strip_widget_state removes it and the widget output
    models = {m["model_name"] for m in done["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"].values()}
    assert {"ImageModel", "VBoxModel", "HTMLModel"} <= models
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
    assert not found, (f"widget state in {found}: strip it with `python -c \"from restok_nb.views import "
                       f"strip_widget_state; strip_widget_state('nbs/NAME.ipynb')\"`, then run nbdev_clean")
