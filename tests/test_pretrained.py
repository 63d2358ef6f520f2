"""The shipped tiny models: they load into today's code and still measure what their cards say."""
import json
import shutil

import pytest
import torch

from restok_nb import pretrained
from restok_nb.config import config_from_dict

SHIPPED = ["digits", "photos"]


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
    clf = pretrained.load_classifier(name)
    c = config_from_dict(json.loads((pretrained._models_dir() / name / "run_config.json").read_text()))
    got = pretrained._measure(c, tok, har, clf)
    run_tok, run_gen = card["run_summary"]["tokenizer"], card["run_summary"]["generator"]
    for want in (card["shipped"]["psnr"], run_tok["psnr"]):
        assert abs(got["psnr"] - want) <= 0.1, (name, got["psnr"], want)
    for want in (card["shipped"]["class_accuracy"], run_gen["class_accuracy"]):
        assert abs(got["class_accuracy"] - want) <= 0.02, (name, got["class_accuracy"], want)
    assert card["commit"] and card["command"].startswith("papermill nbs/train.ipynb")


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
    (tmp_path / "digits" / "tokenizer.json").write_text(json.dumps({**cfg, "width": cfg["width"] * 2}))
    with pytest.raises(RuntimeError, match="no longer fits the current code"):
        pretrained.load("digits", dest=tmp_path)
