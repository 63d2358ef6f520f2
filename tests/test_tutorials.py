"""The tutorials run headless under papermill as CI runs them, and the committed ones are what they output now.

Tutorials 01–05 and 08 run at their defaults — 02–04 on the models shipped in restok_nb (`restok_nb.pretrained`), 05
a short training run, 08 two — in a minute or a few each on 2 CPU cores, and are committed with their outputs by
`python tutorials/run_all.py`. Each one is executed here exactly as that script does, and the test fails when the
committed copy is not what the tutorial outputs now (a code cell whose committed outputs are of other kinds: stale,
or never run), is not written as the script writes it, is over 1 MB, or carries widget state. The learner's own runs
(`run_dir=`) are checked at smoke size (20 steps): tutorial 05 trains photos into a shared folder, 03 trains digits
and its no-residual-latents ablation, 02 and 04 reuse them. Each run's wall-clock time is printed (`pytest -s`).
"""
import importlib.util
import json
import re
import time
from pathlib import Path

import papermill as pm
import pytest

from restok_nb import pretrained

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("run_all", ROOT / "tutorials" / "run_all.py")
run_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_all)
SECONDS: dict[str, float] = {}   # printed, not asserted: speed is measured by benchmarks/, never by a timed test
# the only widgets an executed tutorial may keep: the training progress bars of tqdm.auto (restok_nb.train);
# the tools build no widget at all in static mode, so none reaches papermill
TQDM_MODELS = {"HBoxModel", "HTMLModel", "FloatProgressModel", "LayoutModel", "ProgressStyleModel", "HTMLStyleModel",
               "DescriptionStyleModel"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tutorials")
    yield d
    print("\ntutorial wall-clock seconds:", json.dumps({k: round(v, 1) for k, v in SECONDS.items()}))


def run(name: str, out: Path, min_pictures: int = 2, tag: str = "", **parameters) -> dict:
    "Execute tutorials/`name`.ipynb with papermill; check pictures and widget state; return the executed notebook."
    t0 = time.time()
    done = out / f"{name}{tag}.ipynb"
    pm.execute_notebook(str(ROOT / "tutorials" / f"{name}.ipynb"), str(done), parameters=parameters,
                        cwd=str(ROOT), kernel_name="python3", progress_bar=False)
    SECONDS[name + tag] = seconds = time.time() - t0
    print(f"{name}{tag}: {seconds:.1f} s")
    nb = json.loads(done.read_text())
    assert run_all.pictures(nb) >= min_pictures, f"{name}: only {run_all.pictures(nb)} pictures in the executed notebook"
    models = {m["model_name"] for m in nb["metadata"].get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {}).values()}
    assert models <= TQDM_MODELS, f"{name}: the executed notebook carries the state of widgets {models - TQDM_MODELS}"
    return nb


def text_of(nb: dict) -> str:
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


# what each committed tutorial prints at its defaults (the shipped models; nothing is trained but 05's short run)
AT_DEFAULTS = {
    "01_why_residual_levels": ["largest difference between the sum of the first levels and the pooled image"],
    "02_tokenize_and_reconstruct": ["the shipped model digits: ", "photos tokenizer: trained "],
    "03_quantizer_and_entropy": ["levels where residual latents give the lower entropy",
                                 "levels where photos need more bits than digits"],
    "04_har_9_steps": ["sampler tokens == generate(): True"],
    "05_train_your_own": ["a bad value is refused before anything runs", "shipped digits", "done in"],
    "08_semantic_residuals": ["the two runs differ in: ['out_dir', 'vf_teacher']", "by hand: enc",
                              "with alignment the probe on the first 1, 2, 4 tokens is", "The cost: PSNR from all 32 tokens"],
}


# the shipped models whose held-out PSNR (from the card, to 0.1 dB) a committed tutorial prints: a model re-shipped
# without re-running tutorials/run_all.py leaves its old figures there
PRINTS_PSNR_OF = {"02_tokenize_and_reconstruct": ["digits", "photos"],
                  "03_quantizer_and_entropy": ["digits", "digits_no_residual_latent"], "05_train_your_own": ["digits"]}


def test_every_committed_tutorial_is_checked():
    assert sorted(AT_DEFAULTS) == sorted(run_all.COMMITTED)


@pytest.mark.parametrize("name", run_all.COMMITTED)
def test_committed_tutorial_is_what_it_outputs_at_its_defaults(runs, name):
    nb = run(name, runs)
    out = text_of(nb)
    for want in AT_DEFAULTS[name]:
        assert want in out, f"{name} at its defaults did not print {want!r}"
    assert "no trained" not in out, f"{name} trained a model at its defaults instead of loading the shipped one"
    if name == "05_train_your_own":      # without out_dir the run goes to a temporary folder, removed at the end
        folders = set(re.findall(r"(/\S*restok_train_your_own_[^/\s]+)", out))
        assert folders and not any(Path(f).exists() for f in folders), folders
    fresh = run_all.clean(nb)
    assert not run_all.problems(fresh, run_all.dumps(fresh)), run_all.problems(fresh, run_all.dumps(fresh))
    path = ROOT / "tutorials" / f"{name}.ipynb"
    text = path.read_text(encoding="utf-8")
    committed = json.loads(text)
    redo = f"run `python tutorials/run_all.py {name[:2]}` and commit tutorials/{name}.ipynb"
    assert text == run_all.dumps(run_all.clean(json.loads(text))), f"{path} is not written as run_all.py writes it: {redo}"
    assert not run_all.problems(committed, text), f"{path}: {run_all.problems(committed, text)}"
    assert [c["source"] for c in committed["cells"]] == [c["source"] for c in fresh["cells"]]
    for i, (was, now) in enumerate(zip(run_all.output_kinds(committed), run_all.output_kinds(fresh))):
        assert was == now, f"{path}, code cell {i}: committed outputs {was}, outputs now {now}: {redo}"
    for i, (was, now) in enumerate(zip(run_all.printed_words(committed), run_all.printed_words(fresh))):
        assert was == now, f"{path}, code cell {i} printed\n{was}\nand prints now\n{now}\n{redo}"
    assert run_all.pictures(committed) >= 2
    for model in PRINTS_PSNR_OF.get(name, []):
        psnr = f"{pretrained.load_card(model)['run_summary']['tokenizer']['psnr']:.1f}"
        assert psnr in out and psnr in text_of(committed), f"{path} does not show {model}'s {psnr} dB: {redo}"


def test_a_stale_committed_copy_is_told_from_a_rerun():
    "Numbers (timings, figures) may change between runs; words, outputs and pictures may not."
    def nb(*outputs):
        return {"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": list(outputs)}]}
    out = lambda text: {"output_type": "stream", "name": "stdout", "text": [text]}
    png = {"output_type": "display_data", "data": {"image/png": "", "text/plain": ""}, "metadata": {}}
    a = nb(out("HAR:  9 passes, 1361 ms in /tmp/restok_train_your_own_ab12/x; levels [0, 2, 3]\n"), png)
    rerun = nb(out("HAR:  9 passes,  961 ms in /tmp/restok_train_your_own_zz/x; levels []\n"), png)
    edited = nb(out("HAR: 9 forward passes, 961 ms in /tmp/restok_train_your_own_zz/x; levels []\n"), png)
    assert run_all.printed_words(a) == run_all.printed_words(rerun) != run_all.printed_words(edited)
    assert run_all.output_kinds(a) != run_all.output_kinds(nb(out("HAR")))
    assert run_all.merge_streams([out("a\n"), out("b\n"), png, out("c")]) == [out("a\nb\n") | {"text": ["a\n", "b\n"]},
                                                                           png, out("c")]


def test_run_all_refuses_what_is_not_a_committed_tutorial():
    with pytest.raises(SystemExit):
        run_all.main(["07"])


def test_05_train_your_own_on_photos(runs):
    run("05_train_your_own", runs, tag="_photos", dataset="photos", steps=20, gen_steps=20, batch_size=8,
        out_dir=str(runs / "photos"))
    config = json.loads((runs / "photos" / "summary.json").read_text())["config"]
    assert (config["dataset"], config["steps"]) == ("photos", 20)


def test_03_with_your_own_runs(runs):
    nb = run("03_quantizer_and_entropy", runs, tag="_own", run_dir=str(runs / "train"), train_steps=20,
             photos_run_dir=str(runs / "photos"), photos_train_steps=20)
    out = text_of(nb)
    assert "no trained tokenizer and generator in" in out                 # your main run, trained here
    assert "no trained tokenizer in" in out                               # ... and its ablation (load_or_train)
    ablation = json.loads((runs / "train_no_residual_latent" / "summary.json").read_text())["config"]
    assert (ablation["ablation"], ablation["steps"]) == ("no_residual_latent", 20)
    assert ablation["classifier_path"] == str(runs / "train" / "classifier.safetensors")
    assert "levels where photos need more bits than digits" in out


def test_02_with_your_own_run(runs):
    nb = run("02_tokenize_and_reconstruct", runs, tag="_own", min_pictures=5, run_dir=str(runs / "train"),
             train_steps=20, num_images=3, photos_run_dir=str(runs / "photos"), photos_train_steps=20)
    out = text_of(nb)
    assert f"your run in {runs / 'train'}" in out and "trained 20 steps" in out
    assert "photos tokenizer: trained 20 steps" in out and "training the tiny recipe" not in out   # reused


def test_04_with_your_own_runs(runs):
    nb = run("04_har_9_steps", runs, tag="_own", run_dir=str(runs / "train"), train_steps=20, timing_batch=2,
             photos_run_dir=str(runs / "photos"), photos_train_steps=20)
    assert "sampler tokens == generate(): True" in text_of(nb) and "training the tiny recipe" not in text_of(nb)


def test_06_paper_model_skips_cleanly_without_weights(runs):
    nb = run("06_paper_model", runs, min_pictures=1, tokenizer_weights=str(runs / "absent.safetensors"),
             generator_weights=str(runs / "absent_har.safetensors"))
    out = text_of(nb)
    assert "The paper's weights are not here" in out and "skipped: no tokenizer weights" in out


def test_06_paper_model_by_hub_name_missing_from_the_cache(runs, hub_cache):
    nb = run("06_paper_model", runs, tag="_hub", min_pictures=1)             # the defaults: the paper's hub names
    out = text_of(nb)
    assert "hf download xushu-me/restok_l_128.r256_in1k" in out and str(hub_cache.path) in out
    assert "skipped: no tokenizer weights" in out


def test_06_paper_model_with_reference_format_weights(runs, reference_dir, hub_cache, tmp_path):
    """The parity vectors' `mini` models have the released checkpoints' names, N = 128 and 256² images. The tokenizer
    comes by hub name from an offline cache holding it as the authors' repository does (config.json +
    model.safetensors); the generator from local files with its model_args beside them."""
    meta = json.loads((reference_dir / "mini_tokenizer.json").read_text())
    vs = meta["vit_size"]
    sizes = dict(width=vs["width"], enc_layers=vs["enc_layers"], dec_layers=vs["dec_layers"], num_heads=vs["heads"],
                 pixel_channels=meta["pixel_hidden_channels"])
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "model.safetensors").write_bytes((reference_dir / "mini_tokenizer.safetensors").read_bytes())
    (repo / "config.json").write_text(json.dumps(meta["official_config"]))
    hub_cache("someone/mini_tokenizer", repo)
    nb = run("06_paper_model", runs, tag="_mini", tokenizer_weights="someone/mini_tokenizer", tokenizer_config="",
             generator_weights=str(reference_dir / "mini_har.safetensors"),
             generator_args=str(reference_dir / "mini_har.json"), size_overrides=json.dumps(sizes), num_images=2, class_id=3)
    text = text_of(nb)
    assert "found   someone/mini_tokenizer" in text and str(hub_cache.path) in text
    assert "tokenizer: " in text and "PSNR by prefix" in text and "skipped" not in text


@pytest.mark.parametrize("name,parameters,message", [
    ("01_why_residual_levels", dict(photo="moon"), "choose one of"),
    ("02_tokenize_and_reconstruct", dict(train_steps=-1), "train_steps=-1: the number of training steps must be"),
    ("05_train_your_own", dict(dataset="mnist"), "this tutorial trains on a built-in dataset"),
    ("04_har_9_steps", dict(photo=12), "photo=12: the photos dataset has classes 0 to 9"),
    ("08_semantic_residuals", dict(seeds="0,x"), "seeds='0,x': pass whole numbers separated by commas"),
])
def test_bad_parameters_stop_with_a_clear_message(tmp_path, name, parameters, message):
    with pytest.raises(pm.PapermillExecutionError, match=message):
        pm.execute_notebook(str(ROOT / "tutorials" / f"{name}.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters=parameters, cwd=str(ROOT), kernel_name="python3", progress_bar=False)
