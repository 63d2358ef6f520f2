"""The tutorials run headless under papermill (at smoke size), as README's main command runs them."""
import json
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_tokenize_and_reconstruct_smoke(tmp_path):
    out_dir = tmp_path / "run"
    pm.execute_notebook(str(ROOT / "tutorials" / "01_tokenize_and_reconstruct.ipynb"), str(tmp_path / "out.ipynb"),
                        parameters=dict(steps=20, batch_size=8, warmup_steps=5, out_dir=str(out_dir)), cwd=str(ROOT),
                        kernel_name="python3", progress_bar=False)
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["steps"] == 20
    assert set(summary["psnr_by_prefix"]) == {"1", "2", "4", "8", "16", "32"}
    assert (out_dir / "tokenizer.safetensors").stat().st_size > 0
    assert (out_dir / "reconstructions.png").stat().st_size > 0


def test_bad_parameters_stop_with_a_clear_message(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="steps and batch_size must be positive"):
        pm.execute_notebook(str(ROOT / "tutorials" / "01_tokenize_and_reconstruct.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters=dict(steps=-1, out_dir=str(tmp_path / "run")), cwd=str(ROOT),
                            kernel_name="python3", progress_bar=False)
