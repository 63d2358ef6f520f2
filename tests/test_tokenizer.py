"""Tokenizer behaviour beyond parity: bad inputs, training mode, nested dropout, ablation switches."""
import pytest
import torch

from restok_nb.tokenizer import ResTokConfig, from_preset


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


@pytest.mark.parametrize("switch", ["residual_image_tokens", "residual_latent_tokens", "latent_hierarchy",
                                    "merge_tokens", "learnable_latent_tokens"])
def test_ablation_switches_change_the_model(switch):
    x = torch.rand(2, 3, 32, 32)
    value = switch == "learnable_latent_tokens"       # this one is off by default
    torch.manual_seed(0)
    base = from_preset("tiny").eval()
    torch.manual_seed(0)
    abl = from_preset("tiny", **{switch: value}).eval()
    if switch != "learnable_latent_tokens":
        abl.load_state_dict(base.state_dict(), strict=switch != "merge_tokens")
    with torch.no_grad():
        za = abl.encode(x)[1]["latent"]
        zb = base.encode(x)[1]["latent"]
    assert za.shape == zb.shape == (2, 32, 8)
    assert not torch.allclose(za, zb)


def test_merge_off_has_a_single_image_level():
    cfg = ResTokConfig(merge_tokens=False)
    assert cfg.merge_layers == []
    tok = from_preset("tiny", merge_tokens=False)
    assert len(tok.encoder.level_embedding) == 1
    _, info = tok.encode(torch.rand(1, 3, 32, 32))
    assert [t.shape[1] for t in info["image_tokens"]] == [64]


def test_presets_and_overrides():
    with pytest.raises(ValueError, match="unknown tokenizer preset"):
        from_preset("restok_xl")
    with pytest.raises(ValueError, match="unknown ResTokConfig field"):
        from_preset("tiny", num_tokens=16)
    with pytest.raises(ValueError, match="power of two"):
        from_preset("tiny", num_latent_tokens=24)
    tok = from_preset("tiny", num_latent_tokens=16, codebook_size=64)
    assert tok.encode(torch.rand(1, 3, 32, 32))[0].shape == (1, 16, 8)
