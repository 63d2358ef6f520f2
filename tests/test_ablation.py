"The ablation notebook at smoke size: two tokenizers × HAR and AR, the table as JSON and markdown, verdicts computed."
import json
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "tutorials" / "07_ablation.ipynb"
SMOKE = dict(steps=8, gen_steps=8, batch_size=8, gen_batch_size=16, warmup_steps=2, quantizer_warmup=2,
             gen_warmup_steps=2, eval_samples_per_class=2, variants="restok,flat", dataset="digits,photos")


def test_ablation_smoke(tmp_path):
    out = tmp_path / "abl"
    pm.execute_notebook(str(NB), str(tmp_path / "out.ipynb"), parameters=dict(SMOKE, out_dir=str(out),
                        results_json=str(tmp_path / "copy.json")), cwd=str(ROOT), kernel_name="python3", progress_bar=False)
    res = json.loads((out / "ablation.json").read_text())
    runs = [(d, v, g) for d in ("digits", "photos") for v in ("restok", "flat") for g in ("har", "ar")]
    assert [(r["dataset"], r["variant"], r["generator"]) for r in res["rows"]] == runs
    for r in res["rows"]:
        assert len(r["code_entropy_bits"]) == 6 and r["forward_passes"] == (7 if r["generator"] == "har" else 32)
        assert r["samples"] == 20 and 0 <= r["class_accuracy"] <= 1 and r["gfid"] >= 0 and r["tokenizer_steps"] == 8 and r["batch_size"] == 8
    claims = {(v["dataset"], v["claim"]) for v in res["verdicts"]}
    for d in ("digits", "photos"):
        assert (d, "residuals lower the code entropy") in claims and (d, "HAR matches AR with fewer passes (flat)") in claims
    assert json.loads((tmp_path / "copy.json").read_text()) == res
    assert (out / "ablation.md").read_text().count("\n") == 10         # header, rule, 8 rows
    # the AR runs reuse the HAR runs' tokenizers (one tokenizer per variant); one judge classifier per dataset
    assert (out / "photos" / "restok" / "ar" / "tokenizer").is_symlink()
    assert (out / "digits" / "classifier.safetensors").is_file() and (out / "photos" / "classifier.safetensors").is_file()


def test_ablation_rejects_unknown_variants(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="unknown or missing variants"):
        pm.execute_notebook(str(NB), str(tmp_path / "out.ipynb"), parameters=dict(variants="restok,nope", out_dir=str(tmp_path / "a")),
                            cwd=str(ROOT), kernel_name="python3", progress_bar=False)
