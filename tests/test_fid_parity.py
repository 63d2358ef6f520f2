"""Our FID is pytorch-fid's: the same (random, test-made) weights in `pytorch_fid.inception.InceptionV3` and in our
port give the same pool features, and pytorch-fid's `calculate_frechet_distance` gives our Fréchet distance."""
import numpy as np
import pytest
import torch

from restok_nb import extractors
from restok_nb.metrics import frechet_distance
from restok_nb.official import max_rel_err

pytorch_fid_inception = pytest.importorskip("pytorch_fid.inception")
from pytorch_fid.fid_score import calculate_frechet_distance  # noqa: E402


@pytest.fixture(scope="module")
def weights():
    """A random state dict in the layout of pytorch-fid's FID_WEIGHTS_URL file: every weight and every BatchNorm
    statistic drawn here, so that each layer's contribution shows in the features."""
    torch.manual_seed(0)
    sd = extractors.FIDInceptionV3().state_dict()
    out = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue                                       # pytorch-fid's release has no BN counters
        if k.endswith("running_var"):
            out[k] = torch.rand_like(v) + 0.5
        elif k.endswith("running_mean") or k.endswith(".bias"):
            out[k] = torch.randn_like(v) * 0.1
        elif k.endswith("bn.weight"):
            out[k] = torch.rand_like(v) + 0.5
        else:                                              # conv and fc weights: variance-preserving scale
            out[k] = torch.randn_like(v) * (2 / v[0].numel()) ** 0.5
    return out


@pytest.fixture(scope="module")
def both_nets(weights, tmp_path_factory):
    path = tmp_path_factory.mktemp("fid") / extractors.FID_WEIGHTS_NAME
    torch.save(weights, path)
    ours = extractors.load_fid_inception(path)
    # pytorch-fid's network, built its own way; its one download (load_state_dict_from_url) answered locally
    mp = pytest.MonkeyPatch()
    asked = []

    def answer_locally(url, *args, **kwargs):
        asked.append(url)
        return torch.load(path, weights_only=True)
    mp.setattr(pytorch_fid_inception, "load_state_dict_from_url", answer_locally)
    try:
        theirs = pytorch_fid_inception.InceptionV3([pytorch_fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    finally:
        mp.undo()
    assert asked == [pytorch_fid_inception.FID_WEIGHTS_URL]   # the release file's place, which we answered
    return ours, theirs


@pytest.fixture(scope="module")
def pool_features(both_nets):
    ours, theirs = both_nets
    g = torch.Generator().manual_seed(1)
    real = torch.rand(6, 3, 64, 64, generator=g)
    fake = (real + 0.3 * torch.rand(6, 3, 64, 64, generator=g)).clamp(0, 1)
    with torch.no_grad():
        return {name: (ours(x)[0], theirs(x)[0].flatten(1)) for name, x in (("real", real), ("fake", fake))}


def test_pool_features_equal_pytorch_fid(pool_features):
    for name, (ours, theirs) in pool_features.items():
        assert ours.shape == theirs.shape == (6, 2048)
        assert theirs.abs().max() > 0 and theirs.std(0).mean() > 1e-3   # features that vary with the image
        assert max_rel_err(ours, theirs) < 1e-5, name


def _stats(x: np.ndarray):                                   # what pytorch-fid's calculate_activation_statistics does
    return np.mean(x, axis=0), np.cov(x, rowvar=False)


def test_frechet_distance_equals_pytorch_fid():
    """On well-conditioned features (n > d). With a few Inception vectors (n << 2048) both sides would compute the
    square root of a singular matrix (scipy warns that its result may be inaccurate), which tests round-off, not FID."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 64))
    b = rng.normal(size=(300, 64)) @ rng.normal(size=(64, 64)) * 0.3 + 0.5
    theirs = calculate_frechet_distance(*_stats(a), *_stats(b))
    assert theirs > 1
    assert abs(frechet_distance(a, b) - theirs) <= 1e-4 * theirs
    assert abs(frechet_distance(a, a[::-1].copy())) < 1e-6

