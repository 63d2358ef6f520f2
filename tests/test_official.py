"""Loading weights: strict by name, safe (no pickled code), clear about what does not fit."""
import json
import warnings

import pytest
import torch
from safetensors.torch import save_file

from restok_nb.official import (CheckpointError, config_from_official, load_official_tokenizer,
                                   load_state_dict_checked, read_state_dict)
from restok_nb.tokenizer import ResTok, from_preset

OFFICIAL = {"model": {"vq_model": {"vit_enc_model_size": "tiny", "vit_dec_model_size": "tiny", "codebook_size": 64,
                                   "token_size": 8, "num_latent_tokens": 16}},
            "dataset": {"preprocessing": {"crop_size": 128}}}
SIZES = dict(width=64, enc_layers=4, dec_layers=2, num_heads=4, pixel_channels=32)


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return ResTok(config_from_official(OFFICIAL, **SIZES)).eval()


def test_restok_l_128_shapes_load_strictly(reference_dir):
    spec = json.loads((reference_dir / "restok_l_128_state_dict_shapes.json").read_text())
    with torch.device("meta"):
        model = from_preset("restok_l_128")
        sd = {k: torch.empty(shape) for k, shape in spec["state_dict_shapes"].items()}
    load_state_dict_checked(model, sd, assign=True)   # raises on anything missing, unexpected or mis-shaped
    assert sum(p.numel() for p in model.parameters()) == 659_693_771
    # the reference config in the same file gives the same configuration
    assert config_from_official(spec["official_config"]) == model.config


def test_round_trip_safetensors_and_pt(small, tmp_path):
    save_file(small.state_dict(), tmp_path / "w.safetensors")
    torch.save({"state_dict": small.state_dict()}, tmp_path / "w.pt")
    x = torch.rand(2, 3, 128, 128)
    ids = small.encode(x)[1]["indices"]
    for name in ("w.safetensors", "w.pt"):
        tok = load_official_tokenizer(tmp_path / name, OFFICIAL, **SIZES)
        assert not tok.training
        assert torch.equal(tok.encode(x)[1]["indices"], ids)


def test_config_from_yaml_file(tmp_path):
    import yaml
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(OFFICIAL))
    assert config_from_official(tmp_path / "c.yaml", **SIZES) == config_from_official(OFFICIAL, **SIZES)


def test_missing_unexpected_and_misshaped_tensors_are_named(small):
    sd = small.state_dict()
    sd.pop("decoder.ffn.bias")
    sd["encoder.not_a_tensor_of_ours"] = torch.zeros(2)
    sd["quantize.embedding.weight"] = torch.zeros(65, 8)
    with pytest.raises(CheckpointError) as e:
        load_official_tokenizer(sd, OFFICIAL, **SIZES)
    msg = str(e.value)
    assert "decoder.ffn.bias" in msg and "encoder.not_a_tensor_of_ours" in msg
    assert "quantize.embedding.weight (65, 8)" in msg


def test_vf_tensors_are_skipped_with_a_message(small):
    sd = {**small.state_dict(), "vf_proj.weight": torch.zeros(4, 64, 1, 1),
          "foundation_model.blocks.0.weight": torch.zeros(3), "decoder.feat_mask_token": torch.zeros(1, 1, 64)}
    with pytest.warns(UserWarning, match="skipped 3 tensors"):
        model = load_official_tokenizer(sd, OFFICIAL, **SIZES)
    assert model.state_dict().keys() == small.state_dict().keys()
    assert all(torch.equal(v, small.state_dict()[k]) for k, v in model.state_dict().items())


def test_truncated_and_corrupt_files(small, tmp_path):
    save_file(small.state_dict(), tmp_path / "w.safetensors")
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.bin").write_bytes(b"not a checkpoint at all" * 10)
    torch.save(small.state_dict(), tmp_path / "w.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "w.pt").read_bytes()[:5000])
    for name in ("cut.safetensors", "junk.bin", "cut.pt"):
        with pytest.raises(CheckpointError, match="truncated, corrupt"):
            read_state_dict(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        read_state_dict(tmp_path / "absent.safetensors")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(CheckpointError, match="expected a .safetensors"):
        read_state_dict(tmp_path / "w.txt")


class _Payload:
    ran = False

    def __reduce__(self):
        return (_Payload._mark, ())

    @staticmethod
    def _mark():
        _Payload.ran = True


def test_pickled_code_is_never_executed(tmp_path):
    torch.save({"weight": torch.zeros(1), "payload": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        read_state_dict(tmp_path / "evil.pt")
    assert not _Payload.ran


def test_config_errors():
    with pytest.raises(ValueError, match="unknown ViT size 'tiny'"):
        config_from_official(OFFICIAL)
    with pytest.raises(TypeError, match="unknown size override"):
        config_from_official(OFFICIAL, depth=3)
    with pytest.raises(ValueError, match="model.vq_model"):
        config_from_official({"model": {}})
    large = {"model": {"vq_model": {"vit_enc_model_size": "large", "vit_dec_model_size": "base"}}}
    with pytest.raises(ValueError, match="differ"):
        config_from_official(large)


def test_load_official_har_names_what_does_not_fit(reference_dir):
    from restok_nb.official import load_official_har
    from safetensors.torch import load_file
    sd = load_file(str(reference_dir / "tiny_har.safetensors"))
    sd.pop("layers.1.feed_forward.w3.weight")
    sd["layers.9.attention.wo.weight"] = torch.zeros(1)
    args = json.loads((reference_dir / "tiny_har.json").read_text())["model_args"]
    with pytest.raises(CheckpointError) as e:
        load_official_har(sd, args)
    assert "layers.1.feed_forward.w3.weight" in str(e.value) and "layers.9.attention.wo.weight" in str(e.value)
