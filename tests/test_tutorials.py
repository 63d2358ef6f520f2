"""The tutorials run headless under papermill at smoke size, as CI runs them, each well inside its 3-minute budget.

Two models are trained (at 20 steps) by tutorial 05 ("train your own"), on digits and on photos, into
shared run folders and reused by 02, 03 and 04, as a reader's `_runs/train` and `_runs/photos` would be; 03 trains its ablation itself. Each
run's wall-clock time is printed (`pytest -s`), and all of them together at the end.
"""
import json
import time
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
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
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    pictures = sum("image/png" in o.get("data", {}) or "<img src=" in "".join(o.get("data", {}).get("text/html", ""))
                   for o in outputs)
    assert pictures >= min_pictures, f"{name}: only {pictures} pictures in the executed notebook"
    models = {m["model_name"] for m in nb["metadata"].get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {}).values()}
    assert models <= TQDM_MODELS, f"{name}: the executed notebook carries the state of widgets {models - TQDM_MODELS}"
    return nb


def text_of(nb: dict) -> str:
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


def test_01_why_residual_levels(runs):
    nb = run("01_why_residual_levels", runs, size=128, num_tokens=2048)
    assert "largest difference between the sum of the first levels and the pooled image" in text_of(nb)


def test_05_train_your_own_trains_the_shared_model(runs):
    nb = run("05_train_your_own", runs, steps=20, gen_steps=20, batch_size=8, out_dir=str(runs / "train"))
    assert json.loads((runs / "train" / "summary.json").read_text())["config"]["steps"] == 20
    assert "a bad value is refused before anything runs" in text_of(nb)


def test_05_train_your_own_on_photos(runs):
    run("05_train_your_own", runs, tag="_photos", dataset="photos", steps=20, gen_steps=20, batch_size=8,
        out_dir=str(runs / "photos"))
    config = json.loads((runs / "photos" / "summary.json").read_text())["config"]
    assert (config["dataset"], config["steps"]) == ("photos", 20)


def test_02_tokenize_and_reconstruct(runs):
    nb = run("02_tokenize_and_reconstruct", runs, min_pictures=5, run_dir=str(runs / "train"), train_steps=20, num_images=3,
             photos_run_dir=str(runs / "photos"), photos_train_steps=20)
    assert "trained 20 steps" in text_of(nb) and "training the tiny recipe" not in text_of(nb)   # reused
    assert "photos tokenizer: trained 20 steps" in text_of(nb)


def test_03_quantizer_and_entropy(runs):
    nb = run("03_quantizer_and_entropy", runs, run_dir=str(runs / "train"), train_steps=20, photos_run_dir=str(runs / "photos"),
             photos_train_steps=20)
    assert "levels where photos need more bits than digits" in text_of(nb)
    assert "no trained tokenizer in" in text_of(nb)                   # the ablation was trained (load_or_train)
    assert "no trained tokenizer and generator" not in text_of(nb)    # ... the main model reused
    assert (runs / "train_no_residual_latent" / "tokenizer" / "done.json").is_file()


def test_04_har_9_steps(runs):
    nb = run("04_har_9_steps", runs, run_dir=str(runs / "train"), train_steps=20, timing_batch=2,
             photos_run_dir=str(runs / "photos"), photos_train_steps=20)
    assert "sampler tokens == generate(): True" in text_of(nb)


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
])
def test_bad_parameters_stop_with_a_clear_message(tmp_path, name, parameters, message):
    with pytest.raises(pm.PapermillExecutionError, match=message):
        pm.execute_notebook(str(ROOT / "tutorials" / f"{name}.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters=parameters, cwd=str(ROOT), kernel_name="python3", progress_bar=False)
