"FID's Inception network from pytorch-fid-format weights, Inception Score, streaming statistics, rFID/gFID loops and their distributed command line."
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from safetensors.torch import save_file

from restok_nb import evaluate, extractors, metrics
from restok_nb.data import digits
from restok_nb.generator import HARGenerator, make_config
from restok_nb.tokenizer import from_preset
from restok_nb.runs import load_tokenizer, save_final

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _scipy_frechet(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    "A randomly initialised FID Inception saved like pytorch-fid's release: a plain state dict, no BN counters."
    torch.manual_seed(0)
    net = extractors.FIDInceptionV3().eval()
    path = tmp_path_factory.mktemp("w") / extractors.FID_WEIGHTS_NAME
    torch.save({k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}, path)
    return path, net


def test_inception_loads_pytorch_fid_format(inception_file, tmp_path):
    path, net = inception_file
    from torchvision.models import inception_v3
    tv = inception_v3(weights=None, num_classes=1008, aux_logits=False, init_weights=False)
    file_keys = set(torch.load(path, weights_only=True))
    assert file_keys == {k for k in tv.state_dict() if not k.endswith("num_batches_tracked")}
    model = extractors.load_fid_inception(path)
    x = torch.rand(3, 3, 64, 48)                        # any size: resized to 299 inside
    with torch.no_grad():
        pool, logits = model(x)
        ref_pool, ref_logits = net(x)
    assert pool.shape == (3, 2048) and logits.shape == (3, 1008)
    assert torch.allclose(pool, ref_pool, atol=1e-5) and torch.allclose(logits, ref_logits, atol=1e-4)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    with torch.no_grad():
        assert torch.allclose(extractors.load_fid_inception(tmp_path / "w.safetensors")(x)[0], pool, atol=1e-5)


def test_inception_pooling_follows_the_tf_graph(inception_file):
    "The pooling branches: average pools that ignore the padding, and a max pool in Mixed_7c."
    _, net = inception_file
    x = torch.randn(1, 1280, 8, 8)
    blk = net.Mixed_7b
    out = blk._forward(x)[-1]
    exp = blk.branch_pool(torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
    assert torch.allclose(out, exp)
    x = torch.randn(1, 2048, 8, 8)
    assert torch.allclose(net.Mixed_7c._forward(x)[-1], net.Mixed_7c.branch_pool(torch.nn.functional.max_pool2d(x, 3, 1, 1)))


@pytest.mark.parametrize("bad", ["missing", "garbage", "wrong_keys"])
def test_inception_bad_weights(tmp_path, bad):
    p = tmp_path / "w.pth"
    if bad == "garbage": p.write_bytes(b"not a checkpoint")
    if bad == "wrong_keys": torch.save({"conv.weight": torch.zeros(1)}, p)
    msg = {"missing": "pytorch-fid releases", "garbage": "not a readable", "wrong_keys": "missing keys"}[bad]
    with pytest.raises((FileNotFoundError, ValueError), match=msg):
        extractors.load_fid_inception(p)


def test_inception_fid_self_zero_and_grows_with_shift(inception_file):
    path, _ = inception_file
    ext = extractors.inception_extractor(path)
    g = torch.Generator().manual_seed(0)
    real = torch.rand(8, 3, 32, 32, generator=g) * 0.5 + 0.25
    f_real = ext(real)[0].double().numpy()
    assert metrics.frechet_distance(f_real, f_real) == pytest.approx(0.0, abs=1e-6 * (f_real ** 2).sum(1).mean())
    fids = [metrics.frechet_distance(f_real, ext((real + s).clamp(0, 1))[0].double().numpy()) for s in (0.1, 0.3)]
    assert 0 < fids[0] < fids[1], fids


def test_inception_score_bounds():
    g = torch.Generator().manual_seed(0)
    assert metrics.inception_score(torch.zeros(50, 1008))[0] == pytest.approx(1.0)
    onehot = torch.eye(1008)[torch.arange(500) % 1008] * 100
    assert metrics.inception_score(onehot, splits=1)[0] == pytest.approx(500.0, rel=1e-6)
    m, s = metrics.inception_score(torch.randn(200, 1008, generator=g) * 3)
    assert 1.0 < m < 1008 and s >= 0


def test_streaming_stats_match_numpy_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(5.0, 1.0, size=(400, 32)) @ rng.normal(size=(32, 32))
    b = rng.normal(5.5, 1.2, size=(300, 32)) @ rng.normal(size=(32, 32))
    sa, sb = metrics.FeatureStats(), metrics.FeatureStats()
    for c in np.array_split(a, 9): sa.update(c)
    for c in np.array_split(b, 4): sb.update(torch.as_tensor(c, dtype=torch.float32).double())
    ref = _scipy_frechet(a, b)
    assert abs(sa.frechet(sb) - ref) <= 1e-6 * max(1.0, ref)
    assert abs(metrics.frechet_distance(a, b) - ref) <= 1e-6 * max(1.0, ref)
    assert sa.frechet(sa) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="width"):
        sa.update(np.zeros((2, 5)))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    "A run folder the way training leaves it: tokenizer/, generator/ and classifier.safetensors (small, untrained models)."
    d = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    tok = from_preset("tiny")
    gcfg = make_config("tiny_har")
    har = HARGenerator(gcfg)
    save_final(d / "tokenizer", "model.safetensors", tok.state_dict(), asdict(tok.config), 1)
    save_final(d / "generator", "model.safetensors", har.state_dict(), asdict(gcfg), 1)
    train = digits("train")
    clf = extractors.train_classifier(train.images, train.labels, steps=20, log=None)
    extractors.save_classifier(clf, d / "classifier.safetensors")
    return d


def _cli(args, nproc=1, port=29731):
    pre = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", f"--master_port={port}",
           "-m", "restok_nb.evaluate"] if nproc > 1 else [sys.executable, "-m", "restok_nb.evaluate"]
    return subprocess.run(pre + args, capture_output=True, text=True, env=ENV, timeout=300)


def test_gfid_on_two_processes_equals_one(run_dir, tmp_path):
    "Each process samples a slice, features are gathered: the same numbers as one process, reference stats cached once."
    common = ["gfid", "--run-dir", str(run_dir), "--num-samples", "44", "--batch-size", "8", "--cfg-scale", "2",
              "--num-images", "100", "--ref-stats", str(tmp_path / "ref.npz")]
    one = _cli(common + ["--out", str(tmp_path / "one.json")])
    assert one.returncode == 0, one.stderr[-3000:]
    assert (tmp_path / "ref.npz").is_file()
    two = _cli(common + ["--out", str(tmp_path / "two.json")], nproc=2)
    assert two.returncode == 0, two.stderr[-3000:]
    r1, r2 = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "two.json"))
    assert (r1["processes"], r2["processes"], r1["samples"], r2["samples"]) == (1, 2, 44, 44)
    assert r2["gfid"] == pytest.approx(r1["gfid"], rel=1e-6, abs=1e-9)
    assert r2["inception_score"] == pytest.approx(r1["inception_score"], rel=1e-6)
    assert r2["class_accuracy"] == r1["class_accuracy"] and r1["forward_passes"] == 7


def test_rfid_cli_and_reference_cache(run_dir, tmp_path):
    r = _cli(["rfid", "--run-dir", str(run_dir), "--num-images", "40", "--batch-size", "16", "--out", str(tmp_path / "r.json")])
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["images"] == 40 and len(res["code_entropy_bits"]) == 6 and res["rfid"] >= 0 and 0 < res["psnr"] < 100
    # reference statistics: computed once, then read back; a cache made for something else is recomputed
    ext = extractors.classifier_extractor(extractors.load_classifier(run_dir / "classifier.safetensors"))
    calls = []
    class Counting(extractors.Extractor):
        def __call__(self, x):
            calls.append(len(x)); return super().__call__(x)
    cext = Counting(ext.model, ext.name, True)
    test = digits("test")
    cache, logs = tmp_path / "ref.npz", []
    s1 = evaluate.reference_stats(test, cext, cache, num_images=50, batch_size=25, log=logs.append)
    n_calls = len(calls)
    s2 = evaluate.reference_stats(test, cext, cache, num_images=50, batch_size=25, log=logs.append)
    assert len(calls) == n_calls and np.allclose(s1.cov, s2.cov)
    evaluate.reference_stats(test, cext, cache, num_images=60, batch_size=25, log=logs.append)
    assert len(calls) > n_calls and "recomputing" in logs[-1]
    cache.write_bytes(b"garbage")
    evaluate.reference_stats(test, cext, cache, num_images=60, batch_size=25, log=logs.append)
    assert "unreadable" in logs[-1]


@pytest.mark.parametrize("args, msg", [
    (["gfid", "--run-dir", "/nonexistent"], "no trained tokenizer"),
    (["rfid", "--batch-size", "0"], "must be positive"),
])
def test_cli_bad_arguments(args, msg):
    r = _cli(args)
    assert r.returncode != 0 and msg in r.stderr, r.stderr[-2000:]


def test_cli_inception_needs_weights(run_dir):
    r = _cli(["rfid", "--run-dir", str(run_dir), "--extractor", "inception"])
    assert r.returncode != 0 and "--inception-weights" in r.stderr


def test_rfid_with_a_last_batch_of_one_image(run_dir):
    "41 images in batches of 20: the last batch holds one image (streaming statistics take any batch size)."
    tok = load_tokenizer(run_dir / "tokenizer")
    ext = extractors.classifier_extractor(extractors.load_classifier(run_dir / "classifier.safetensors"))
    res = evaluate.rfid(tok, digits("test"), ext, num_images=41, batch_size=20)
    assert res["images"] == 41 and res["rfid"] >= 0
