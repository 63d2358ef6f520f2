"""The released weights by hub name (offline, from a cache the test builds) and the reference's vanilla-AR checkpoints."""
import json
import socket
from pathlib import Path

import pytest
import torch
from huggingface_hub import PyTorchModelHubMixin

from restok_nb.generator import HARGenerator
from restok_nb.official import (PAPER_HUB_NAMES, config_from_model_args, config_from_official, load_official_har,
                                load_official_tokenizer)
from restok_nb.tokenizer import ResTok

OFFICIAL = {"model": {"vq_model": {"vit_enc_model_size": "tiny", "vit_dec_model_size": "tiny", "codebook_size": 64,
                                   "token_size": 8, "num_latent_tokens": 16}},
            "dataset": {"preprocessing": {"crop_size": 128}}}
SIZES = dict(width=64, enc_layers=4, dec_layers=1, num_heads=4, pixel_channels=32)
# gpt_har.ModelArgs as the reference's `_save_pretrained` writes it to config.json (every field, flat)
HAR_ARGS = dict(dim=64, n_layer=2, n_head=4, n_kv_head=None, multiple_of=256, ffn_dim_multiplier=None, rope_base=10000,
                norm_eps=1e-5, initializer_range=0.02, token_dropout_p=0.1, attn_dropout_p=0.0, resid_dropout_p=0.1,
                ffn_dropout_p=0.1, drop_path_rate=0.0, num_classes=10, caption_dim=2048, class_dropout_prob=0.1,
                model_type="c2i", vocab_size=64, cls_token_num=1, block_size=32, max_batch_size=32, max_seq_len=2048,
                ar_token_num=4, spe_token_num=31)
# gpt_vanilla.ModelArgs: no ar_token_num / spe_token_num, one more field, vq_dim
AR_ARGS = {k: v for k, v in HAR_ARGS.items() if k not in ("ar_token_num", "spe_token_num")} | {"vq_dim": 8}


class HubResTok(ResTok, PyTorchModelHubMixin):
    "A tokenizer saved the way the reference saves it: its config tree as config.json, then the mixin's weights."
    def _save_pretrained(self, save_directory: Path) -> None:
        (Path(save_directory) / "config.json").write_text(json.dumps(OFFICIAL, indent=4))
        super()._save_pretrained(save_directory)


class HubHAR(HARGenerator, PyTorchModelHubMixin):
    "A HAR generator saved the way the reference saves it: its flat ModelArgs as config.json, then the weights."
    def _save_pretrained(self, save_directory: Path) -> None:
        (Path(save_directory) / "config.json").write_text(json.dumps(HAR_ARGS, indent=4))
        super()._save_pretrained(save_directory)


@pytest.fixture
def offline_cache(hub_cache, monkeypatch):
    """conftest's offline hub cache, and any attempt to open a network connection an error."""
    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    return hub_cache


def test_mixin_layout_is_what_we_read(tmp_path):
    torch.manual_seed(0)
    HubResTok(config_from_official(OFFICIAL, **SIZES)).save_pretrained(tmp_path / "saved")
    assert {"config.json", "model.safetensors"} <= {f.name for f in (tmp_path / "saved").iterdir()}
    assert json.loads((tmp_path / "saved" / "config.json").read_text()) == OFFICIAL


def test_tokenizer_by_hub_name_from_the_cache(tmp_path, offline_cache):
    torch.manual_seed(0)
    src = HubResTok(config_from_official(OFFICIAL, **SIZES)).eval()
    src.save_pretrained(tmp_path / "saved")
    snapshot = offline_cache(PAPER_HUB_NAMES["tokenizer"], tmp_path / "saved")
    tok = load_official_tokenizer(PAPER_HUB_NAMES["tokenizer"], **SIZES)
    assert not tok.training and type(tok) is ResTok
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(tok.encode(x)[1]["indices"], src.encode(x)[1]["indices"])
        assert torch.equal(tok(x)[0], src(x)[0])
    # the same files as a folder, and the weights with an explicit config
    assert torch.equal(load_official_tokenizer(snapshot, **SIZES).encode(x)[1]["indices"], src.encode(x)[1]["indices"])
    assert load_official_tokenizer(PAPER_HUB_NAMES["tokenizer"], OFFICIAL, **SIZES).config == tok.config


def test_har_by_hub_name_from_the_cache(tmp_path, offline_cache):
    torch.manual_seed(0)
    src = HubHAR(config_from_model_args(HAR_ARGS)).eval()
    torch.nn.init.normal_(src.output.weight, std=0.02)          # the head starts at zero
    src.save_pretrained(tmp_path / "saved")
    offline_cache(PAPER_HUB_NAMES["generator"], tmp_path / "saved")
    har = load_official_har(PAPER_HUB_NAMES["generator"])
    assert (har.cfg.mode, har.num_forward_passes, har.training) == ("har", 7, False)
    idx, cond = torch.randint(64, (2, 32)), torch.tensor([1, 7])
    with torch.no_grad():
        assert torch.equal(har(idx, cond), src(idx, cond))


def test_missing_cache_entry_says_what_to_download_and_where(offline_cache):
    for load, name in ((load_official_tokenizer, PAPER_HUB_NAMES["tokenizer"]), (load_official_har, PAPER_HUB_NAMES["generator"])):
        with pytest.raises(FileNotFoundError) as e:
            load(name)
        msg = str(e.value)
        assert f"hf download {name}" in msg and str(offline_cache.path) in msg and "HF_HUB_OFFLINE=1" in msg


def test_incomplete_cache_and_folder_are_named(tmp_path, offline_cache):
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "config.json").write_text(json.dumps(HAR_ARGS))
    with pytest.raises(FileNotFoundError, match="has no model.safetensors"):
        load_official_har(tmp_path / "saved")
    offline_cache("someone/only-config", tmp_path / "saved")   # a snapshot without the weights
    with pytest.raises(FileNotFoundError, match="model.safetensors of 'someone/only-config' is not in the Hugging Face cache"):
        load_official_har("someone/only-config")
    with pytest.raises(FileNotFoundError, match="no weights file"):            # a missing file is not a hub name
        load_official_har("_weights/har.safetensors", HAR_ARGS)
    with pytest.raises(TypeError, match="pass model_args="):
        load_official_har(tmp_path / "saved" / "config.json")


def reference_ar_state_dict(a: dict) -> dict:
    """Random tensors under the names and shapes of the reference's gpt_vanilla.Transformer (c2i), written out from
    its module definitions: LabelEmbedder, token embedding, blocks (fused wqkv, SwiGLU w1/w2/w3, two RMSNorms),
    final RMSNorm, output head. No special (query) embeddings: that table is HAR's."""
    d, hidden = a["dim"], -(-int(2 * 4 * a["dim"] / 3) // a["multiple_of"]) * a["multiple_of"]
    shapes = {"cls_embedding.embedding_table.weight": (a["num_classes"] + 1, d), "tok_embeddings.weight": (a["vocab_size"], d),
              "norm.weight": (d,), "output.weight": (a["vocab_size"], d)}
    for i in range(a["n_layer"]):
        shapes |= {f"layers.{i}.attention.wqkv.weight": (3 * d, d), f"layers.{i}.attention.wo.weight": (d, d),
                   f"layers.{i}.feed_forward.w1.weight": (hidden, d), f"layers.{i}.feed_forward.w3.weight": (hidden, d),
                   f"layers.{i}.feed_forward.w2.weight": (d, hidden), f"layers.{i}.attention_norm.weight": (d,),
                   f"layers.{i}.ffn_norm.weight": (d,)}
    g = torch.Generator().manual_seed(0)
    return {k: torch.randn(s, generator=g) * 0.1 for k, s in shapes.items()}


def test_vanilla_ar_checkpoint_loads_as_ar(tmp_path):
    from safetensors.torch import save_file
    sd = reference_ar_state_dict(AR_ARGS)
    save_file(sd, tmp_path / "ar.safetensors")
    (tmp_path / "ar.json").write_text(json.dumps(AR_ARGS))
    model = load_official_har(tmp_path / "ar.safetensors", tmp_path / "ar.json")
    assert (model.cfg.mode, model.cfg.ar_token_num, model.num_forward_passes) == ("ar", 32, 32)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in sd.items())
    # token by token: the logits at position p see the class and tokens < p only
    idx, cond = torch.randint(64, (1, 32)), torch.tensor([3])
    changed = idx.clone(); changed[0, 10] = (idx[0, 10] + 1) % 64
    with torch.no_grad():
        a, b = model(idx, cond), model(changed, cond)
    assert torch.equal(a[:, :11], b[:, :11]) and not torch.equal(a[:, 11:], b[:, 11:])
    # sampled in N passes, and greedy sampling agrees with the teacher-forced logits
    with torch.no_grad():
        seq = model.generate(cond, cfg_scale=1.0, top_k=1)
        assert torch.equal(model(seq, cond).argmax(-1), seq)
    # the HAR arguments do not fit this checkpoint, and say which tensors are missing
    with pytest.raises(ValueError, match="spe_tok_embeddings"):
        load_official_har(sd, {k: v for k, v in HAR_ARGS.items()})
    with pytest.raises(ValueError, match="use mode='ar'"):
        load_official_har(sd, AR_ARGS, mode="har")
