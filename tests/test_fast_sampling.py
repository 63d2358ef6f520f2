"""The fast inference path (issue 15) against the plain one: the same tokens in float32, and clear errors."""
import pytest
import torch
from torch import nn

import restok_nb.sampling as sampling
from restok_nb.generator import GPTConfig, HARGenerator, rms_norm
import restok_nb.layers as layers
from restok_nb.layers import packed_linear, prepacked_weights
from restok_nb.pixel_cnn import inference_layout
from restok_nb.sampling import draw, race_draw
from restok_nb.tokenizer import from_preset as tokenizer_preset


def small(mode: str, N: int = 32) -> HARGenerator:
    "A small generator (head dim 16) with a random output head, so that sampling is not degenerate."
    torch.manual_seed(0)
    model = HARGenerator(GPTConfig(vocab_size=64, num_latent_tokens=N, num_classes=10, dim=64, n_layer=2, n_head=4,
                                   mode=mode)).eval()
    nn.init.normal_(model.output.weight, std=0.5)
    return model


def plain_multinomial(probs, generator=None):
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@pytest.mark.parametrize("mode", ["har", "ar"])
@pytest.mark.parametrize("scale", [1.0, 2.0])
@pytest.mark.parametrize("prefix_len", [0, 8])
@pytest.mark.parametrize("top_k", [0, 1])
def test_fast_path_draws_the_plain_paths_tokens(monkeypatch, mode, scale, prefix_len, top_k):
    model, cond = small(mode), torch.tensor([0, 3, 7])
    prefix = torch.randint(0, 64, (3, prefix_len), generator=torch.Generator().manual_seed(5)) if prefix_len else None
    sample = lambda: model.generate(cond, cfg_scale=scale, top_k=top_k, prefix=prefix,
                                    generator=torch.Generator().manual_seed(1))
    fast = sample()                                                 # prepacked weights, race_draw
    with prepacked_weights(False):
        monkeypatch.setattr(sampling, "draw", plain_multinomial)   # F.linear, torch.multinomial
        plain = sample()
    assert torch.equal(fast, plain)
    if prefix is not None:
        assert torch.equal(fast[:, :prefix_len], prefix)


@pytest.mark.parametrize("shape", [(1, 2), (7, 300), (64, 8192)])
def test_race_draw_is_torch_multinomial(shape):
    for seed in range(3):
        probs = torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).mul(4).softmax(-1)
        probs[0, 1:] = 0; probs[0] /= probs[0].sum()                # a row with one possible token
        g1, g2 = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        assert torch.equal(race_draw(probs, g1), torch.multinomial(probs, 1, generator=g2)[:, 0])
        assert torch.equal(g1.get_state(), g2.get_state())         # the generator moved on the same way


def test_tokenizer_inference_path_keeps_the_codes():
    tok = tokenizer_preset("tiny").eval()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    z_plain, info_plain = tok.encode(x)                             # autograd on: NCHW, F.linear
    with torch.no_grad():
        z_fast, info_fast = tok.encode(x)                           # channels-last, prepacked weights
        assert torch.equal(info_fast["indices"], info_plain["indices"])
        assert (tok.decode(z_fast) - tok.decode(z_plain.detach())).abs().max() < 1e-4


def test_bad_input_to_the_fast_path_functions():
    lin = nn.Linear(8, 4)
    with pytest.raises(ValueError, match="the layers take"):
        packed_linear(torch.zeros(2, 5), lin)
    with pytest.raises(TypeError, match="nn.Linear"):
        packed_linear(torch.zeros(2, 8), lin.weight)
    with pytest.raises(ValueError, match="without biases"):
        packed_linear(torch.zeros(2, 8), lin, nn.Linear(8, 4))
    with pytest.raises(ValueError, match="shape \\(M, V\\)"):
        draw(torch.ones(5))
    with pytest.raises(TypeError, match="float tensor"):
        race_draw(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(RuntimeError, match="nan"):
        draw(torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="last dimension"):
        rms_norm(nn.RMSNorm(16), torch.zeros(2, 8))
    with pytest.raises(TypeError, match="nn.RMSNorm"):
        rms_norm(nn.LayerNorm(8), torch.zeros(2, 8))
    with pytest.raises(ValueError, match="\\(B, C, H, W\\)"):
        inference_layout(torch.zeros(2, 3))


def test_packed_weights_follow_dtype_round_trips():
    "A model packed in float32, cast to bfloat16 and back: each dtype samples with its own weights, never stale copies."
    model, cond = small("har"), torch.tensor([1, 2, 3])
    sample = lambda: model.generate(cond, cfg_scale=2.0, generator=torch.Generator().manual_seed(0))
    sample()                                                        # packs the float32 weights
    model.to(torch.bfloat16)
    with torch.inference_mode():
        fast = sample()
        with prepacked_weights(False):
            assert torch.equal(fast, sample())
    model.to(torch.float32)                                         # new float32 memory, bfloat16-rounded values
    fast = sample()
    with prepacked_weights(False):
        assert torch.equal(fast, sample())


def test_one_and_two_rows_take_the_packed_kernel_with_the_same_bits():
    "float32 products of 1 and 2 rows go through the prepacked kernel too, and each row's bits do not depend on the row count."
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this PyTorch has no oneDNN")
    torch.manual_seed(0)
    lin, x = nn.Linear(96, 200, bias=False), torch.randn(5, 96)
    with torch.inference_mode():
        for rows in (1, 2):
            layers._PACKED.pop(lin, None)
            packed_linear(x[:rows], lin)
            assert lin in layers._PACKED                            # the one-/two-row call packed the weight
        full = packed_linear(x, lin)                                # 5 rows
        assert torch.equal(torch.cat([packed_linear(x[i:i + 1], lin) for i in range(5)]), full)
        assert torch.equal(torch.cat([packed_linear(x[:2], lin), packed_linear(x[2:], lin)]), full)
        assert (full - x @ lin.weight.T).abs().max() < 1e-5         # F.linear's values, another order of the sums
