"""The shipped tiny models: they load into today's code and still measure what their cards say."""
import json
import re
import shutil

import pytest
import torch

from restok_nb import pretrained
from restok_nb.config import config_from_dict
from restok_nb.runs import write_json

SHIPPED = ["digits", "digits_no_residual_latent", "photos"]
TOKENIZER_ONLY = {"digits_no_residual_latent"}   # shipped without a generator: the card measures PSNR only


def test_every_recipe_is_shipped_within_the_size_budget():
    assert pretrained.available() == sorted(SHIPPED)
    files = [p for p in pretrained._models_dir().rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert total <= 10_000_000, f"shipped models take {total / 1e6:.2f} MB (budget 10 MB)"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_measures_what_its_card_says(name):
    "Held-out PSNR within 0.1 dB and class accuracy within 2 points of the card (shipped weights and the run's)."
    torch.manual_seed(0)
    tok, har, card = pretrained.load(name)
    assert (har is None) == (name in TOKENIZER_ONLY) == ("generator" not in card["parts"])
    clf = pretrained.load_classifier(name)
    c = config_from_dict(json.loads((pretrained._models_dir() / name / "run_config.json").read_text()))
    assert c.stage == ("tokenizer" if name in TOKENIZER_ONLY else "all") and card["ablation"] == c.ablation
    got = pretrained._measure(c, tok, har, clf)
    for want in (card["shipped"]["psnr"], card["run_summary"]["tokenizer"]["psnr"]):
        assert abs(got["psnr"] - want) <= 0.1, (name, got["psnr"], want)
    if har is not None:
        for want in (card["shipped"]["class_accuracy"], card["run_summary"]["generator"]["class_accuracy"]):
            assert abs(got["class_accuracy"] - want) <= 0.02, (name, got["class_accuracy"], want)
    else:
        assert "class_accuracy" not in got and "class_accuracy" not in card["shipped"]
    assert re.fullmatch(r"[0-9a-f]{40}", card["commit"]) and re.match(r"papermill .*nbs/train\.ipynb ", card["command"])


def test_the_ablation_tokenizer_is_the_main_recipe_without_residual_latents():
    "Tutorial 03 compares the two: same recipe (steps, batch, seed, data), one switch flipped."
    main, flat = (pretrained.load_card(n)["run_summary"]["config"] for n in ("digits", "digits_no_residual_latent"))
    same = ("dataset", "steps", "batch_size", "seed", "preset", "image_size", "eval_images")
    assert {k: main[k] for k in same} == {k: flat[k] for k in same}
    assert (main["ablation"], flat["ablation"]) == ("restok", "no_residual_latent")
    tok, _, _ = pretrained.load("digits_no_residual_latent")
    assert not tok.config.residual_latent_tokens


def test_tutorial_models_gives_the_shipped_tokenizer_only_model():
    tok, har, summary, clf = pretrained.tutorial_models("", "digits_no_residual_latent", stage="tokenizer")
    assert har is None and clf is not None and summary["tokenizer"]["psnr"] > 0
    with pytest.raises(ValueError, match="has no generator.*stage='tokenizer'"):
        pretrained.tutorial_models("", "digits_no_residual_latent")
    with pytest.raises(ValueError, match="no shipped model 'mnist'"):
        pretrained.tutorial_models("_runs/anything", "mnist")


def test_ship_a_tokenizer_only_run(tmp_path):
    "A stage='tokenizer' run ships its tokenizer and classifier; a part left from an earlier model of the name goes."
    from restok_nb.train import load_or_train
    load_or_train(tmp_path / "run", steps=1, stage="tokenizer", log=lambda *a: None, eval_images=16, classifier_steps=1)
    dest = tmp_path / "models"
    (dest / "mini").mkdir(parents=True)
    (dest / "mini" / "generator.safetensors").write_bytes(b"stale")
    card = pretrained.ship(tmp_path / "run", "mini", "load_or_train(steps=1)", dest=dest, description="a smoke run",
                           log=lambda *a: None)
    assert card["parts"] == ["tokenizer", "classifier"] and set(card["shipped"]) == {"psnr", "psnr_by_prefix", "codes_used"}
    assert not (dest / "mini" / "generator.safetensors").exists()
    assert sorted(card["bytes"]) == ["classifier.safetensors", "tokenizer.safetensors"]
    tok, har, loaded = pretrained.load("mini", dest=dest)
    assert har is None and loaded["parts"] == card["parts"] and pretrained.available(dest) == ["mini"]
    assert "class accuracy" not in (dest / "mini" / "README.md").read_text()
    assert abs(card["shipped"]["psnr"] - card["run_summary"]["tokenizer"]["psnr"]) <= 0.5


def test_ship_refuses_bad_names_and_unfinished_runs(tmp_path):
    with pytest.raises(ValueError, match="lower-case letters"):
        pretrained.ship(tmp_path, "../digits", "cmd", dest=tmp_path)
    with pytest.raises(ValueError, match="pass description="):
        pretrained.ship(tmp_path, "unheard_of", "cmd", dest=tmp_path)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        pretrained.ship(tmp_path, "digits", "cmd", dest=tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text((pretrained._models_dir() / "digits" / "run_config.json").read_text())
    with pytest.raises(FileNotFoundError, match="not a finished run.*generator/model.safetensors"):
        pretrained.ship(run, "digits", "cmd", dest=tmp_path)


def test_a_model_without_a_classifier_says_so(tmp_path):
    shutil.copytree(pretrained._models_dir() / "digits_no_residual_latent", tmp_path / "flat")
    card = json.loads((tmp_path / "flat" / "card.json").read_text())
    write_json(tmp_path / "flat" / "card.json", {**card, "parts": ["tokenizer"]})      # a card written as ship writes it
    with pytest.raises(ValueError, match="has no judge classifier"):
        pretrained.load_classifier("flat", dest=tmp_path)


def test_unknown_name_and_damaged_weights_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no shipped model 'cifar'.*available"):
        pretrained.load("cifar")
    shutil.copytree(pretrained._models_dir() / "digits", tmp_path / "digits")
    path = tmp_path / "digits" / "generator.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(RuntimeError, match="generator.safetensors are unreadable"):
        pretrained.load("digits", dest=tmp_path)


def test_weights_from_another_model_are_refused(tmp_path):
    shutil.copytree(pretrained._models_dir() / "digits", tmp_path / "digits")
    cfg = json.loads((tmp_path / "digits" / "tokenizer.json").read_text())
    write_json(tmp_path / "digits" / "tokenizer.json", {**cfg, "width": cfg["width"] * 2})
    with pytest.raises(RuntimeError, match="no longer fits the current code"):
        pretrained.load("digits", dest=tmp_path)
