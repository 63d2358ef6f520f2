"""Metrics: PSNR and SSIM against known values and scikit-image, the Fréchet distance against SciPy,
the FID classifier trained on the built-in digits and colours sets, and its save/load round trip."""
import json
import math
import time

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from restok_nb.official import CheckpointError
from restok_nb.data import colours, digits
from restok_nb.metrics import (PSNR_CAP_DB, feature_stats, frechet_distance, frechet_from_stats, level_entropy_bits,
                               psnr, ssim)
from restok_nb.extractors import (SmallClassifier, class_accuracy, classifier_features, fid_with, load_classifier,
                                  save_classifier, train_classifier)
from restok_nb.quantizer import level_code_stats


# ---------------------------------------------------------------------------------------------- PSNR
def test_psnr_known_values():
    zeros = torch.zeros(2, 3, 8, 8)
    assert psnr(zeros, zeros + 0.1).item() == pytest.approx(20.0, abs=1e-5)           # MSE 0.01
    assert psnr(zeros, zeros + 0.5).item() == pytest.approx(10 * math.log10(4), abs=1e-9)
    assert psnr(zeros, zeros + 25.5, data_range=255.0).item() == pytest.approx(20.0, abs=1e-5)
    pair = torch.stack([torch.full((3, 4, 4), 0.1), torch.full((3, 4, 4), 0.01)])
    per_image = psnr(pair, torch.zeros_like(pair), reduction="none")
    assert per_image.shape == (2,)
    assert per_image.tolist() == pytest.approx([20.0, 40.0], abs=1e-5)
    assert psnr(pair, torch.zeros_like(pair)).item() == pytest.approx(30.0, abs=1e-5)  # mean of per-image PSNRs


def test_psnr_identical_images_are_capped_and_single_images_work():
    x = torch.rand(3, 3, 16, 16)
    assert psnr(x, x).item() == PSNR_CAP_DB
    assert psnr(x, x, reduction="none").tolist() == [PSNR_CAP_DB] * 3
    assert psnr(x[0], (x[0] + 0.1)).item() == pytest.approx(psnr(x[:1], x[:1] + 0.1).item())   # (C, H, W) accepted


def test_psnr_errors():
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, x[:1])
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        psnr(x[0, 0], x[0, 0])
    with pytest.raises(ValueError, match="reduction"):
        psnr(x, x, reduction="sum")


# ---------------------------------------------------------------------------------------------- SSIM
def _skimage_ssim(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    return [structural_similarity(x.double().numpy(), y.double().numpy(), gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, data_range=1, channel_axis=0) for x, y in zip(a, b)]


@pytest.mark.parametrize("size", [(11, 11), (16, 16), (32, 32), (24, 40)])
@pytest.mark.parametrize("noise", [0.02, 0.2])
def test_ssim_matches_skimage(size, noise):
    g = torch.Generator().manual_seed(0)
    smooth = F.interpolate(torch.rand(3, 3, size[0] // 4 + 1, size[1] // 4 + 1, generator=g), size=size,
                           mode="bilinear", align_corners=False)          # structured images, not only noise
    a = torch.cat([smooth, torch.rand(1, 3, *size, generator=g)])
    b = (a + noise * torch.randn(a.shape, generator=g)).clamp(0, 1)
    ours = ssim(a, b, reduction="none")
    assert ours.shape == (4,)
    np.testing.assert_allclose(ours.numpy(), _skimage_ssim(a, b), atol=1e-4)
    assert ssim(a, b).item() == pytest.approx(float(np.mean(_skimage_ssim(a, b))), abs=1e-4)


def test_ssim_properties_and_small_images():
    x = torch.rand(2, 3, 32, 32)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-12)
    assert ssim(x, 1 - x).item() < 0                                         # inverted contrast
    for size in [(7, 7), (5, 9), (10, 10), (1, 1)]:                          # windows clipped to the image
        a = torch.rand(1, 3, *size)
        assert ssim(a, a).item() == pytest.approx(1.0, abs=1e-12)
        s = ssim(a, torch.rand(1, 3, *size)).item()
        assert -1 <= s <= 1 and math.isfinite(s)
    with pytest.raises(ValueError, match="odd"):
        ssim(x, x, win_size=8)


# ---------------------------------------------------------------------------------------------- Fréchet distance
def _scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    "The classic computation: scipy.linalg.sqrtm of the product of covariances."
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.fixture(scope="module")
def feats():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(32, 32))
    return rng.normal(size=(2000, 32)) @ mix, rng.normal(size=(1500, 32)) @ (mix + 0.3 * rng.normal(size=(32, 32))) + 0.5


def test_frechet_of_a_set_with_itself_is_zero(feats):
    a, _ = feats
    scale = np.trace(np.cov(a, rowvar=False))
    assert abs(frechet_distance(a, a)) < 1e-6 * scale
    few = np.random.default_rng(1).normal(size=(40, 128)) * 3.0                # n < d: singular covariances
    assert abs(frechet_distance(few, few)) < 1e-6 * np.trace(np.cov(few, rowvar=False))


def test_frechet_grows_monotonically_with_a_mean_shift(feats):
    a, _ = feats
    b = a[::-1] + np.random.default_rng(2).normal(size=a.shape) * 0.1
    direction = np.random.default_rng(3).normal(size=a.shape[1])
    fids = [frechet_distance(a, b + t * direction) for t in [0, 0.25, 0.5, 1, 2, 4]]
    assert all(x < y for x, y in zip(fids, fids[1:])), fids


def test_frechet_matches_scipy(feats):
    a, b = feats
    ours, ref = frechet_distance(a, b), _scipy_frechet(a, b)
    assert ours == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(torch.tensor(a, dtype=torch.float64), torch.tensor(b)) == pytest.approx(ref, rel=1e-6)


def test_frechet_from_cached_stats(feats):
    a, b = feats
    mu_a, s_a = feature_stats(a)
    assert mu_a.shape == (32,) and s_a.shape == (32, 32) and s_a.dtype == np.float64
    np.testing.assert_allclose(s_a, np.cov(a, rowvar=False))
    assert frechet_from_stats(mu_a, s_a, *feature_stats(b)) == frechet_distance(a, b)
    # one feature dimension: 1-D Gaussians, d² = (μ1 − μ2)² + (σ1 − σ2)²
    x, y = np.arange(10.0)[:, None], 3 * np.arange(10.0)[:, None] + 1
    sx, sy = np.std(x, ddof=1), np.std(y, ddof=1)
    assert frechet_distance(x, y) == pytest.approx((x.mean() - y.mean()) ** 2 + (sx - sy) ** 2)


def test_frechet_errors(feats):
    a, b = feats
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        frechet_distance(a[None], b)
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        frechet_distance(a, b[:, 0])
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(a, b[:, :16])
    with pytest.raises(ValueError, match="at least 2 samples"):
        frechet_distance(a[:1], b)
    with pytest.raises(ValueError, match="NaN or inf"):
        frechet_distance(np.full((4, 2), np.nan), b[:, :2])
    mu, s = feature_stats(a)
    with pytest.raises(ValueError, match="statistics do not match"):
        frechet_from_stats(mu, s, mu[:3], s[:3, :3])


# ---------------------------------------------------------------------------------------------- classifier
@pytest.fixture(scope="module", autouse=True)
def one_thread():
    "One torch thread: steady timings on a shared machine (two contended threads can be several times slower)."
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(train_set) -> tuple[SmallClassifier, float]:
    "A classifier trained with the defaults, and the seconds it took."
    t0 = time.time()
    model = train_classifier(train_set.images, train_set.labels, num_classes=10, seed=0, log=None)
    return model, time.time() - t0


@pytest.fixture(scope="module")
def digits_test():
    return digits("test")   # scikit-learn's digits at 32×32, the held-out 20 % of every class


@pytest.fixture(scope="module")
def trained():
    return _train(digits("train"))


def test_classifier_reaches_95_percent_on_held_out_digits(digits_test, trained):
    model, seconds = trained
    acc = class_accuracy(model, digits_test.images, digits_test.labels)
    print(f"\ndigits: held-out accuracy {acc:.4f}, training {seconds:.1f}s")
    assert acc >= 0.95, acc
    assert not model.training
    shifted = torch.roll(digits_test.images, shifts=(2, -2), dims=(2, 3))   # slightly off-centre digits
    assert class_accuracy(model, shifted, digits_test.labels) >= 0.8


def test_classifier_on_colours():
    model, seconds = _train(colours("train"))
    test = colours("test")
    acc = class_accuracy(model, test.images, test.labels)
    print(f"\ncolours: held-out accuracy {acc:.4f}, training {seconds:.1f}s")
    assert acc >= 0.95, acc


def test_classifier_shapes_modes_and_errors(trained):
    model, _ = trained
    x = torch.rand(5, 3, 32, 32)
    f = classifier_features(model, x, batch_size=2)
    assert f.shape == (5, 128) and f.dtype == np.float64
    assert model.features(torch.rand(2, 3, 17, 40)).shape == (2, 128)       # any size >= 16
    model.train()
    classifier_features(model, x)
    assert model.training                                                   # mode restored
    model.eval()
    with pytest.raises(ValueError, match="H, W >= 16"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="labels must lie"):
        train_classifier(x, torch.tensor([0, 1, 2, 3, 10]), num_classes=10, steps=1, log=None)
    with pytest.raises(ValueError, match=r"labels \(n,\)"):
        train_classifier(x, torch.tensor([0, 1]), steps=1, log=None)


def test_training_is_reproducible_and_logs():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 3, 16, 16, generator=g), torch.randint(0, 3, (32,), generator=g)
    lines = []
    m1 = train_classifier(x, y, num_classes=3, steps=5, batch_size=8, width=8, feat_dim=16, log=lines.append)
    m2 = train_classifier(x, y, num_classes=3, steps=5, batch_size=8, width=8, feat_dim=16, log=None)
    assert lines and "step 5/5" in lines[-1]
    with torch.no_grad():
        assert torch.equal(m1(x), m2(x))


def test_fid_with_classifier(digits_test, trained):
    model, _ = trained
    real, other = digits_test.images[:180], digits_test.images[180:]
    noisy = (other + 0.3 * torch.randn(other.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    f_real, f_other, f_noisy = (classifier_features(model, x) for x in (real, other, noisy))
    assert abs(frechet_distance(f_real, f_real)) < 1e-6
    assert frechet_distance(f_real, f_other) < frechet_distance(f_real, f_noisy)   # noise moves away from the data
    assert fid_with(model, real, other) == pytest.approx(frechet_distance(f_real, f_other))


def test_save_load_round_trip(trained, tmp_path):
    model, _ = trained
    path = save_classifier(model, tmp_path / "run" / "classifier.safetensors")
    assert path.is_file()
    cfg = json.loads(path.with_suffix(".json").read_text())
    assert cfg == dict(type="SmallClassifier", num_classes=10, width=32, feat_dim=128)
    loaded = load_classifier(path)
    assert isinstance(loaded, SmallClassifier) and not loaded.training
    x = torch.rand(6, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_save_load_errors(tmp_path):
    small = SmallClassifier(num_classes=3, width=8, feat_dim=16)
    with pytest.raises(ValueError, match=".safetensors"):
        save_classifier(small, tmp_path / "classifier.pt")
    path = save_classifier(small, tmp_path / "classifier.safetensors")
    path.with_suffix(".json").write_text(json.dumps(dict(num_classes=3, width=16, feat_dim=16)))   # wrong width
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_classifier(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="classifier config"):
        load_classifier(path)


# ---------------------------------------------------------------------------------------------- code entropy
def test_level_entropy_bits_wraps_level_code_stats():
    ids = torch.randint(0, 32, (6, 16), generator=torch.Generator().manual_seed(0))
    bits = level_entropy_bits(ids, 32)
    assert bits == [s["entropy_bits"] for s in level_code_stats(ids, 32)]
    assert len(bits) == 5 and all(isinstance(b, float) for b in bits)
    assert level_entropy_bits(torch.stack([torch.arange(16) % 4, torch.arange(16)]), 16) == pytest.approx(
        [0.0, 0.0, 1.0, 3.0, 3.5])
