"""Tokenizer behaviour beyond parity: bad inputs, training mode, nested dropout, ablation switches."""
import pytest
import torch
import torch.nn.functional as F

from restok_nb.restok_config import ResTokConfig
from restok_nb.tokenizer import from_preset


@pytest.fixture(scope="module")
def tok():
    torch.manual_seed(0)
    return from_preset("tiny").eval()


@pytest.mark.parametrize("x, err, msg", [
    (torch.rand(2, 4, 32, 32), ValueError, "3 colour channels"),
    (torch.rand(2, 3, 48, 48), ValueError, "takes 32×32 images"),
    (torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8), TypeError, "float tensor"),
    (torch.rand(3, 32, 32), ValueError, "batch dimension"),
    ([[0.5]], TypeError, "torch.Tensor"),
])
def test_bad_images(tok, x, err, msg):
    with pytest.raises(err, match=msg):
        tok.encode(x)


def test_bad_token_ids_and_prefixes(tok):
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        tok.decode_tokens(torch.full((1, 32), 256))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        tok.decode_tokens(torch.full((1, 32), -1))
    with pytest.raises(TypeError, match="integer tensor"):
        tok.decode_tokens(torch.zeros(1, 32))
    with pytest.raises(ValueError, match=r"shape \(B, 32\)"):
        tok.decode_tokens(torch.zeros(1, 31, dtype=torch.long))
    z_q = tok.encode(torch.rand(1, 3, 32, 32))[0]
    with pytest.raises(ValueError, match="not an allowed prefix"):
        tok.decode(z_q, num_tokens=6)
    with pytest.raises(ValueError, match="not an allowed prefix"):
        tok.decode(z_q, num_tokens=64)
    with pytest.raises(ValueError, match="shape"):
        tok.decode(z_q[:, :16])


def test_decode_accepts_b1n_ids_and_per_sample_prefixes(tok):
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        z_q, info = tok.encode(x)
        ids = info["indices"]
        assert torch.allclose(tok.decode_tokens(ids[:, None]), tok.decode_tokens(ids), atol=1e-6)
        mixed = tok.decode(z_q, num_tokens=torch.tensor([4, 16, 32]))
        for i, k in enumerate([4, 16, 32]):
            assert torch.allclose(mixed[i], tok.decode(z_q[i:i + 1], num_tokens=k)[0], atol=1e-5)


def test_training_mode_returns_losses_and_backprops():
    torch.manual_seed(0)
    tok = from_preset("tiny").train()
    x = torch.rand(4, 3, 32, 32)
    rec, out = tok(x)
    assert rec.shape == x.shape
    for k in ("loss", "l2_loss", "quantizer_loss", "commitment_loss", "codebook_loss", "entropy_loss"):
        assert out[k].dim() == 0 and torch.isfinite(out[k]), k
    out["loss"].backward()
    assert tok.encoder.blocks[0].attn.qkv.weight.grad is not None        # straight-through reaches the encoder
    assert tok.pixel_encoder.conv_in.weight.grad.abs().sum() > 0


def test_nested_dropout_distribution():
    tok = from_preset("tiny").train()
    k = tok.sample_num_tokens(20000, torch.Generator().manual_seed(0))
    assert set(k.unique().tolist()) == set(tok.train_prefixes) == {4, 8, 16, 32}
    assert abs((k == 32).float().mean().item() - 0.8) < 0.02
    # shorter prefixes share the rest with weights 1 : 2 : 4
    frac = [(k == p).float().mean().item() for p in (4, 8, 16)]
    assert abs(frac[1] / frac[0] - 2) < 0.3 and abs(frac[2] / frac[1] - 2) < 0.3


def test_eval_mode_keeps_all_tokens(tok):
    _, out = tok(torch.rand(2, 3, 32, 32))
    assert out["num_tokens"].tolist() == [32, 32]


GRID_8 = dict(pixel_channel_mult=(1, 2, 2), pixel_num_res_blocks=2, hierarchy_stages=4)   # 8×8 tokens, 3 merges


def _twin(**switch):
    """A small tokenizer (8×8 token grid merged three times, like the paper's) with one ablation switch flipped and
    otherwise the weights of the plain one: (plain, twin). `tiny` itself is 4×4 with two merges."""
    torch.manual_seed(0)
    base = from_preset("tiny", **GRID_8).eval()
    twin = from_preset("tiny", **GRID_8, **switch).eval()
    missing, unexpected = twin.load_state_dict(base.state_dict(), strict=False)
    assert all(k.startswith("encoder.level_embedding.") for k in unexpected)   # no merges: one image level
    assert all(k == "latent_tokens" for k in missing)
    return base, twin


def _features(tok, x):
    with torch.no_grad():
        return tok.encoder.patch_embed(tok.pixel_encoder((x - tok.imnet_mean) / tok.imnet_std))   # (B, W, 8, 8)


def test_residual_latent_switch_pools_what_the_coarser_levels_left():
    base, twin = _twin(residual_latent_tokens=False)
    f = _features(base, torch.rand(2, 3, 32, 32))
    mean = f.mean((2, 3), keepdim=True)                                           # level 0: one 1×1 cell
    level1 = lambda t: t.encoder.init_latents(f)[:, 1:2]                          # level 1: one token, a 1×1 grid
    with torch.no_grad():
        torch.testing.assert_close(level1(twin), mean.flatten(2).transpose(1, 2))  # the whole map again
        torch.testing.assert_close(level1(base), torch.zeros_like(mean.flatten(2).transpose(1, 2)), atol=1e-6, rtol=0)
        torch.testing.assert_close(base.encoder.init_latents(f)[:, 2:4],          # level 2: a 1×2 grid of the residual
                                   F.adaptive_avg_pool2d(f - mean, (1, 2)).flatten(2).transpose(1, 2))


def test_flat_latents_are_one_dimensional_area_pooling():
    base, twin = _twin(latent_hierarchy=False)
    f = _features(base, torch.rand(2, 3, 32, 32))
    with torch.no_grad():
        flat = F.interpolate(f.flatten(2), size=32, mode="area").transpose(1, 2)   # (B, 32, W)
        torch.testing.assert_close(twin.encoder.init_latents(f), flat)
        assert not torch.allclose(base.encoder.init_latents(f), flat)


def _merges(monkeypatch, tok, x):
    "The (block size, residual flag) of every merge `tok.encode(x)` performs."
    import restok_nb.layers as L
    seen, real = [], L.merge_coarse
    monkeypatch.setattr(L, "merge_coarse", lambda x, n, residual=True, *a, **k: seen.append((n, residual)) or real(x, n, residual, *a, **k))
    with torch.no_grad():
        info = tok.encode(x)[1]
    return seen, [t.shape[1] for t in info["image_tokens"]]


def test_merge_and_residual_image_switches(monkeypatch):
    x = torch.rand(2, 3, 32, 32)
    base, no_residual = _twin(residual_image_tokens=False)
    _, no_merge = _twin(merge_tokens=False)
    assert _merges(monkeypatch, base, x) == ([(64, True), (32, True), (16, True)], [8, 16, 32, 64])
    assert _merges(monkeypatch, no_residual, x) == ([(64, False), (32, False), (16, False)], [8, 16, 32, 64])
    assert _merges(monkeypatch, no_merge, x) == ([], [64])                     # one 8×8 image block, never merged


def test_learnable_latent_tokens_ignore_the_image():
    base, twin = _twin(learnable_latent_tokens=True)
    assert twin.latent_tokens.shape == (32, base.config.width)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        twin.encoder.init_latents = lambda feat: (_ for _ in ()).throw(AssertionError("pooled latents used"))
        assert twin.encode(x)[1]["latent"].shape == (2, 32, 8)
