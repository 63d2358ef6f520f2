"""The HAR generator: parity with the reference vectors, KV-cache exactness, pass counts, bad input."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from restok_nb.official import load_official_har, max_rel_err as rel_err
from restok_nb.official import config_from_model_args
from restok_nb.generator import (GPTConfig, HARGenerator, from_preset, generator_loss,
                                 greedy_consistency)


def reference_model(reference_dir, name):
    "The reference weights through the public loader (strict by name), and the reference outputs."
    model = load_official_har(reference_dir / f"{name}_har.safetensors", reference_dir / f"{name}_har.json")
    return model, load_file(reference_dir / f"{name}_har_io.safetensors")


def small(mode="har", N=32, seed=0, **kw):
    "A small model with a random (non-zero) output head, so sampling is not degenerate."
    torch.manual_seed(seed)
    cfg = dict(vocab_size=64, num_latent_tokens=N, num_classes=10, dim=32, n_layer=2, n_head=4, mode=mode) | kw
    model = HARGenerator(GPTConfig(**cfg)).eval()
    nn.init.normal_(model.output.weight, std=0.5)
    return model


@pytest.mark.parametrize("name", ["tiny", "mini"])
def test_teacher_forced_parity(reference_dir, name):
    model, io = reference_model(reference_dir, name)
    with torch.inference_mode():
        logits = model(io["idx"], io["cond"])
    assert logits.shape == io["logits"].shape
    assert rel_err(logits, io["logits"]) <= 1e-4
    assert abs(generator_loss(logits, io["idx"]).item() - io["loss"].item()) <= 1e-4 * io["loss"].abs().item()


@pytest.mark.parametrize("name", ["tiny", "mini"])
@pytest.mark.parametrize("scale", [1, 3])
def test_greedy_samples_equal_reference(reference_dir, name, scale):
    model, io = reference_model(reference_dir, name)
    out = model.generate(io["cond"], cfg_scale=scale, top_k=1)
    assert out.dtype == torch.int64
    assert torch.equal(out, io[f"greedy_cfg{scale}"])


@pytest.mark.parametrize("name", ["tiny", "mini"])
def test_kv_cache_matches_teacher_forcing_on_reference_weights(reference_dir, name):
    model, io = reference_model(reference_dir, name)
    for scale in (1.0, 3.0):
        seq, argmax = greedy_consistency(model, io["cond"], scale)
        assert torch.equal(seq, argmax)


@pytest.mark.parametrize("mode", ["har", "ar"])
@pytest.mark.parametrize("scale", [1.0, 2.5])
@pytest.mark.parametrize("N", [32, 128])
def test_kv_cache_matches_teacher_forcing(mode, scale, N):
    model = small(mode, N=N)
    seq, argmax = greedy_consistency(model, torch.tensor([0, 3, 9, 10]), scale)  # 10 = the null class
    assert torch.equal(seq, argmax)


def test_grouped_query_attention():
    model = small(n_kv_head=2)
    assert model.layers[0].attention.wqkv.weight.shape == ((4 + 2 * 2) * 8, 32)
    for scale in (1.0, 2.0):
        assert torch.equal(*greedy_consistency(model, [1, 2], scale))


def test_llamagen_l_har_shapes_load_strictly(reference_dir):
    spec = json.loads((reference_dir / "llamagen_l_har_state_dict_shapes.json").read_text())
    with torch.device("meta"):
        model = from_preset("llamagen_l_har")
        sd = {k: torch.zeros(shape) for k, shape in spec["state_dict_shapes"].items()}
        model.load_state_dict(sd, strict=True, assign=True)
        assert sum(p.numel() for p in model.parameters()) == 326_263_808
        # the reference arguments in the same file describe the same tensors
        from_args = HARGenerator(config_from_model_args(spec["model_args"]))
    assert {k: tuple(v.shape) for k, v in from_args.state_dict().items()} == \
           {k: tuple(v) for k, v in spec["state_dict_shapes"].items()}


def test_state_dict_has_reference_names_only():
    har, ar = from_preset("tiny_har"), from_preset("tiny_ar")
    assert set(har.state_dict()) - set(ar.state_dict()) == {"spe_tok_embeddings.special_embeddings.weight"}
    assert list(har.buffers()) == []  # RoPE, mask and layout are derived, not stored
    assert len(har.state_dict()) == 5 + 7 * har.cfg.n_layer


@pytest.mark.parametrize("mode,N,passes", [("har", 128, 9), ("har", 32, 7), ("ar", 32, 32), ("ar", 128, 128)])
def test_forward_pass_count(mode, N, passes):
    model = small(mode, N=N, n_layer=1)
    calls = []
    hook = model.norm.register_forward_hook(lambda *_: calls.append(1))
    model.generate([1, 2], cfg_scale=2.0)
    hook.remove()
    assert len(calls) == passes == model.num_forward_passes
    if mode == "har":
        assert passes == 4 + math.log2(N / 4)


@pytest.mark.parametrize("mode", ["har", "ar"])
@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine", "step"])
def test_sample_levels_equals_generate(mode, schedule):
    model = small(mode)
    kw = dict(cfg_scale=2.0, temperature=0.9, top_k=20, top_p=0.95, cfg_schedule=schedule)
    out = model.generate([1, 4, 7], generator=torch.Generator().manual_seed(3), **kw)
    steps = list(model.sample_levels([1, 4, 7], generator=torch.Generator().manual_seed(3), **kw))
    assert torch.equal(steps[-1].tokens, out)
    assert [s.step for s in steps] == list(range(model.num_forward_passes))
    assert all(torch.equal(s.tokens, out[:, :s.end]) for s in steps)   # each step only appends
    assert steps[0].level == 0 and steps[-1].level_done
    # a different seed gives different samples (the generator is really used)
    other = model.generate([1, 4, 7], generator=torch.Generator().manual_seed(4), **kw)
    assert not torch.equal(out, other)


def test_cfg_schedule_values():
    model = small()
    scales = [s.cfg_scale for s in model.sample_levels([1], cfg_scale=3.0, cfg_schedule="linear")]
    assert scales[0] == 1.0 and scales[-1] == 3.0 and scales == sorted(scales)
    step = [s.cfg_scale for s in model.sample_levels([1], cfg_scale=3.0, cfg_schedule="step")]
    assert set(step) == {1.0, 3.0}
    custom = [s.cfg_scale for s in model.sample_levels([1], cfg_scale=3.0, cfg_schedule=lambda r, s: 2.0)]
    assert custom == [2.0] * model.num_forward_passes


def test_training_pass_after_sampling():
    model = small()
    model.generate([1])                 # derived tables first built under inference mode
    model.train()
    idx = torch.randint(0, 64, (4, 32))
    loss = generator_loss(model(idx, torch.tensor([0, 1, 2, 3])), idx)
    loss.backward()
    assert model.spe_tok_embeddings.special_embeddings.weight.grad.abs().sum() > 0
    assert model.cls_embedding.embedding_table.weight.grad is not None


def test_fresh_presets():
    for name, N, V in [("tiny_har", 32, 256), ("tiny_ar", 32, 256)]:
        model = from_preset(name).eval()
        assert (model.cfg.num_latent_tokens, model.cfg.vocab_size, model.cfg.num_classes) == (N, V, 10)
        assert model.output.weight.abs().sum() == 0
        assert model.generate([0, 9]).shape == (2, N)
    with torch.device("meta"):
        b = from_preset("llamagen_b_ar")
    assert (b.cfg.dim, b.cfg.n_layer, b.cfg.n_head, b.num_forward_passes) == (768, 12, 12, 128)


# ---------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def tiny():
    return small()


@pytest.mark.parametrize("cond", [[11], [-1], torch.tensor([0, 12])])
def test_bad_class_ids(tiny, cond):
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 10\]"):
        tiny.generate(cond)
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 10\]"):
        tiny(torch.zeros(len(cond), 32, dtype=torch.long), torch.as_tensor(cond))


def test_bad_class_dtype_and_shape(tiny):
    with pytest.raises(TypeError, match="class ids must be integers"):
        tiny.generate(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="one class id per sample"):
        tiny(torch.zeros(2, 32, dtype=torch.long), torch.tensor([1, 2, 3]))


def test_bad_token_ids(tiny):
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 63\]"):
        tiny(torch.full((1, 32), 64), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 63\]"):
        tiny(torch.full((1, 32), -1), torch.tensor([1]))
    with pytest.raises(TypeError, match="integer tensor"):
        tiny(torch.zeros(1, 32), torch.tensor([1]))


@pytest.mark.parametrize("length", [16, 33])
def test_wrong_sequence_length(tiny, length):
    with pytest.raises(ValueError, match=r"shape \(B, 32\)"):
        tiny(torch.zeros(1, length, dtype=torch.long), torch.tensor([1]))


@pytest.mark.parametrize("kw,match", [(dict(temperature=0), "temperature"), (dict(temperature=-1.0), "temperature"),
                                      (dict(top_p=0.0), "top_p"), (dict(top_p=1.01), "top_p"),
                                      (dict(top_k=-2), "top_k"), (dict(cfg_schedule="cosine_re"), "unknown cfg_schedule")])
def test_bad_sampling_arguments(tiny, kw, match):
    with pytest.raises(ValueError, match=match):
        tiny.generate([1], **kw)
    with pytest.raises(ValueError, match=match):
        tiny.sample_levels([1], **kw)  # checked at the call, before any pass


@pytest.mark.parametrize("kw,match", [(dict(num_latent_tokens=48), "power of two"), (dict(num_latent_tokens=2), "smaller than ar_token_num"),
                                      (dict(ar_token_num=3), "power of two"), (dict(spe_token_num=4), "too small")])
def test_bad_configs(kw, match):
    with pytest.raises(ValueError, match=match):
        GPTConfig(**kw)
    with pytest.raises(ValueError, match=match):
        from_preset("tiny_har", **kw)


def test_bad_model_args():
    args = dict(dim=64, n_layer=2, n_head=4, vocab_size=64, block_size=32, num_classes=10)   # the reference's names
    assert config_from_model_args(args).num_latent_tokens == 32
    with pytest.raises(ValueError, match="c2i"):
        config_from_model_args(args | dict(model_type="t2i"))
    with pytest.raises(ValueError, match="unknown generator arguments"):
        config_from_model_args(args | dict(use_moe=True))
    with pytest.raises(ValueError, match="unknown generator preset"):
        from_preset("llamagen_xxl_har")
    with pytest.raises(ValueError, match="valid fields are"):
        from_preset("tiny_har", n_layers=2)


def test_guidance_needs_a_null_class():
    model = small(class_dropout_prob=0.0)
    with pytest.raises(ValueError, match="null class"):
        model.generate([1], cfg_scale=2.0)
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 9\]"):
        model.generate([10])
