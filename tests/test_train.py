"Training pipeline: bad parameters, damaged checkpoints, NaN losses, kill -9 + resume, two processes."
import dataclasses, json, os, signal, subprocess, sys, time, warnings
from pathlib import Path

import pytest
import torch

from restok_nb.config import ConfigError, TrainConfig, config_from_dict, validate
from restok_nb.losses import FrozenTeacher, TokenizerObjective
from restok_nb.runs import NonFiniteLoss, latest_checkpoint, list_checkpoints, save_checkpoint, verify_checkpoint
from restok_nb.train import launch, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def small(out, **kw) -> TrainConfig:
    "A pipeline run that takes seconds: colours at 32 px, a few steps of each stage."
    base = dict(dataset="colours", image_size=32, steps=8, batch_size=4, warmup_steps=2, quantizer_warmup=2,
                gen_steps=6, gen_batch_size=8, gen_warmup_steps=2, ckpt_every=4, log_every=2, eval_every=0,
                eval_samples_per_class=2, eval_images=32, classifier_steps=10, out_dir=str(out),
                max_threads=1)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("kw, msg", [
    (dict(preset="huge"), "choose one of"),
    (dict(steps=-1), "non-negative integer"),
    (dict(batch_size=0), "positive integer"),
    (dict(stage="both"), "choose one of"),
    (dict(lr=0.0), "lr must be > 0"),
    (dict(dataset="folder"), "pass data_dir"),
    (dict(dataset="folder", data_dir="/no/such/dir"), "does not exist"),
    (dict(precision="fp16", device="cpu"), "needs a CUDA GPU"),
    (dict(image_size=20), "does not fit preset"),
    (dict(vf_teacher="vit_small_patch14_dinov2"), "local weights file"),
    (dict(vf_teacher="classifier", vf_weights=__file__), "not a classifier saved by"),
    (dict(disc_net="dino", disc_weight=0.5), "dino_deitsmall16_pretrain.pth"),
    (dict(disc_net="stylegan"), "choose one of"),
    (dict(disc_augment="color,blur"), "unknown \\['blur'\\]"),
    (dict(cfg_scale=0.5), "cfg_scale"),
])
def test_bad_parameters(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        validate(TrainConfig(**kw))


def test_unknown_parameter():
    with pytest.raises(ConfigError, match="unknown parameter"):
        config_from_dict({"stepz": 3})


def test_papermill_rejects_bad_parameters(tmp_path):
    pm = pytest.importorskip("papermill")
    for params, msg in [({"preset": "nope"}, "choose one of"), ({"steps": -5}, "non-negative integer")]:
        with pytest.raises(pm.PapermillExecutionError, match=msg):
            pm.execute_notebook(str(ROOT / "nbs" / "train.ipynb"), str(tmp_path / "out.ipynb"),
                                parameters={**params, "out_dir": str(tmp_path / "run")}, progress_bar=False)


def test_corrupt_checkpoint_falls_back(tmp_path):
    c = small(tmp_path, stage="tokenizer")
    run_pipeline(c, log=lambda m: None)
    ck = list_checkpoints(tmp_path / "tokenizer" / "checkpoints")
    assert [p.name for p in ck] == ["step_00000008", "step_00000004"]
    state = ck[0] / "state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])     # truncate the newest
    (tmp_path / "tokenizer" / "done.json").unlink()                          # so the stage runs again
    logs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_pipeline(c, log=logs.append)
    text = "\n".join(logs)
    assert "skipping damaged checkpoint step_00000008" in text and "truncated or corrupt" in text
    assert "resuming from" in text and "step 4 of 8" in text


def test_garbage_checkpoint_is_reported(tmp_path):
    d = tmp_path / "ck"
    save_checkpoint(d, 1, {"m": {"w": torch.ones(2)}}, {"x": 1})
    (d / "step_00000001" / "m.safetensors").write_bytes(b"not a tensor file")
    (d / "step_00000002").mkdir()                                             # no meta.json at all
    logs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert latest_checkpoint(d, log=logs.append) is None
    assert len(logs) == 2 and "meta.json unreadable" in logs[0] and "checksum mismatch" in logs[1]


def test_nan_loss_stops_with_checkpoint_intact(tmp_path, monkeypatch):
    c = small(tmp_path, stage="tokenizer", steps=8, ckpt_every=2)
    orig, calls = TokenizerObjective.forward, {"n": 0}

    def poisoned(self, *a, **k):
        rec, L = orig(self, *a, **k)
        calls["n"] += 1
        if calls["n"] == 6: L["loss"] = L["loss"] * float("nan")
        return rec, L
    monkeypatch.setattr(TokenizerObjective, "forward", poisoned)
    with pytest.raises(NonFiniteLoss, match=r"became nan at step 5.*step_00000004.*resumes"):
        run_pipeline(c, log=lambda m: None)
    ck = list_checkpoints(tmp_path / "tokenizer" / "checkpoints")
    assert ck[0].name == "step_00000004"
    verify_checkpoint(ck[0])                                               # intact
    events = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "non_finite_loss"


def test_other_run_in_same_folder_is_refused(tmp_path):
    run_pipeline(small(tmp_path, stage="tokenizer", steps=2, ckpt_every=2), log=lambda m: None)
    with pytest.raises(ConfigError, match="different"):
        run_pipeline(small(tmp_path, stage="tokenizer", steps=2, seed=5), log=lambda m: None)


def _cli(cfg_path, **popen):
    return subprocess.Popen([sys.executable, "-m", "restok_nb.train", str(cfg_path)], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def _run_until_checkpoint_8(tmp_path):
    "A 24-step run started from the command line, once its step-8 checkpoint exists: (process, config path, checkpoints)."
    c = small(tmp_path / "run", steps=24, ckpt_every=4, gen_steps=6)
    cfg = tmp_path / "cfg.json"; cfg.write_text(json.dumps(dataclasses.asdict(c)))
    ck_dir = tmp_path / "run" / "tokenizer" / "checkpoints"
    p = _cli(cfg)
    t0 = time.time()
    while not any(ck_dir.glob("step_00000008")) and time.time() - t0 < 240:
        assert p.poll() is None, p.stdout.read()
        time.sleep(0.2)
    return p, cfg, ck_dir


def test_kill_9_then_resume_finishes(tmp_path):
    p, cfg, _ = _run_until_checkpoint_8(tmp_path)
    os.kill(p.pid, signal.SIGKILL); p.wait()
    assert not (tmp_path / "run" / "summary.json").exists()
    out, _ = _cli(cfg).communicate(timeout=600)
    assert "resuming from" in out, out
    step = int(out.split("(step ")[1].split(" ")[0])
    assert 8 <= step < 24, out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["tokenizer"]["psnr"] > 0 and summary["generator"]["forward_passes"] > 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_then_resume_finishes(tmp_path, sig):
    "SIGTERM / SIGINT mid-training: exit 130 with a message naming the checkpoint and how to resume, no traceback."
    p, cfg, ck_dir = _run_until_checkpoint_8(tmp_path)
    os.kill(p.pid, sig)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 130, out
    assert f"{sig.name} received" in out and "tokenizer at step_" in out and "run the same command again" in out, out
    assert "Traceback" not in out, out
    for ck in list_checkpoints(ck_dir): verify_checkpoint(ck)                      # everything on disk is intact
    if sig == signal.SIGTERM:
        out, _ = _cli(cfg).communicate(timeout=600)
        assert "resuming from" in out, out
        assert json.loads((tmp_path / "run" / "summary.json").read_text())["generator"]["forward_passes"] > 0


def test_two_processes_stay_in_sync(tmp_path):
    c = small(tmp_path / "run", num_processes=2, device="cpu", steps=4, gen_steps=4, main_process_port=29517)
    logs = []
    summary = launch(c, log=logs.append)
    text = "\n".join(logs)
    assert "tokenizer: 2 processes in sync" in text and "generator: 2 processes in sync" in text, text
    assert summary["processes"] == 2
    state = torch.load(list_checkpoints(tmp_path / "run" / "tokenizer" / "checkpoints")[0] / "state.pt",
                       weights_only=True)
    assert len(state["rng"]) == 2                                            # one RNG state per process


def _local_timm_weights(tmp_path, name, **kw):
    "Random weights of a timm model saved to a local file (stand-in for DINOv2/DINOv3)."
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file
    m = timm.create_model(name, pretrained=False, **kw)
    path = tmp_path / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(path))
    return str(path)


def test_vf_perceptual_and_adversarial_losses(tmp_path):
    vit = _local_timm_weights(tmp_path, "vit_tiny_patch16_224", num_classes=0)
    import torchvision
    cnn = tmp_path / "alexnet.pth"                          # stand-in for torchvision's ImageNet AlexNet (LPIPS-alex)
    torch.save({f"features.{k}": v for k, v in torchvision.models.alexnet().features.state_dict().items()}, cnn)
    c = small(tmp_path / "run", stage="tokenizer", steps=4, vf_teacher="vit_tiny_patch16_224", vf_weights=vit,
              perceptual_net="alex", perceptual_weights=str(cnn), disc_weight=0.5, disc_start=2, log_every=1)
    run_pipeline(c, log=lambda m: None)
    rows = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r.get("stage") == "tokenizer" and "loss" in r]
    for key in ("vf_enc", "vf_dec", "vf_loss", "perceptual_loss"):
        assert all(0 <= r[key] < 10 for r in rows), (key, rows)
    assert "adv_loss" not in rows[0] and "adv_loss" in rows[-1] and "d_loss" in rows[-1]   # D starts at step 2
    ck = list_checkpoints(tmp_path / "run" / "tokenizer" / "checkpoints")[0]
    names = {p.name for p in ck.iterdir()}
    assert {"trainer.safetensors", "ema.safetensors", "disc.safetensors", "state.pt"} <= names
    from safetensors.torch import load_file
    assert any(k.startswith("vf_enc") for k in load_file(str(ck / "trainer.safetensors")))
    assert not any(k.startswith("teacher") for k in load_file(str(ck / "trainer.safetensors")))


def test_vf_alignment_to_the_runs_own_classifier(tmp_path):
    "vf_teacher='classifier': the judge classifier is trained first, aligned to, and reused by the evaluation."
    c = small(tmp_path / "run", stage="tokenizer", steps=4, vf_teacher="classifier", log_every=1)
    summary = run_pipeline(c, log=lambda m: None)
    rows = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r.get("stage") == "tokenizer" and "loss" in r]
    assert len(rows) == 4 and all(0 <= r["vf_enc"] < 2 and 0 <= r["vf_dec"] < 2 for r in rows), rows
    clf = tmp_path / "run" / "classifier.safetensors"
    assert clf.is_file() and "rfid" in summary["tokenizer"]
    from restok_nb.extractors import load_classifier
    from restok_nb.runs import load_tokenizer
    assert load_tokenizer(tmp_path / "run" / "tokenizer").config.decoder_feature_supervision
    other = small(tmp_path / "run2", stage="tokenizer", steps=2, vf_teacher="classifier", vf_weights=str(clf))
    run_pipeline(other, log=lambda m: None)                                     # a saved classifier, by path
    rows = [json.loads(l) for l in (tmp_path / "run2" / "metrics.jsonl").read_text().splitlines()]
    assert any("vf_enc" in r for r in rows) and load_classifier(clf).config["feat_dim"] == 128


def test_dino_discriminator_with_diffaugment(tmp_path):
    "The paper's adversarial recipe on a random ViT: frozen backbone, trainable heads saved alone, resumable."
    vit = _local_timm_weights(tmp_path, "vit_tiny_patch16_224", num_classes=0)    # stand-in for DINO ViT-S/16
    kw = dict(stage="tokenizer", disc_net="dino", disc_backbone="vit_tiny_patch16_224", disc_weights=vit,
              disc_augment="color,translation,cutout", disc_weight=0.5, disc_start=2, log_every=1, ckpt_every=2)
    run_pipeline(small(tmp_path / "run", steps=4, **kw), log=lambda m: None)
    rows = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r.get("stage") == "tokenizer" and "loss" in r]
    assert "adv_loss" not in rows[1] and all(abs(r["adv_loss"]) < 1e3 and 0 <= r["d_loss"] < 10 for r in rows[2:]), rows
    from safetensors.torch import load_file
    ck = list_checkpoints(tmp_path / "run" / "tokenizer" / "checkpoints")[-1]
    disc = load_file(str(ck / "disc.safetensors"))
    assert disc and all(k.startswith("1.heads.") for k in disc)                 # DiffAugment ∘ heads; the ViT is not saved
    log = []
    run_pipeline(small(tmp_path / "run", steps=6, **kw), log=log.append)        # resumes heads, spectral norms, D's AdamW
    assert any("resuming from" in m and "step 4" in m for m in log), log


def test_dino_discriminator_reads_dino_checkpoint_layout(tmp_path):
    "DINO's own .pth (dino_deitsmall16_pretrain.pth: timm's ViT names, no head) loads; a missing file is named."
    timm = pytest.importorskip("timm")
    from restok_nb.losses import DinoDiscriminator
    kw = dict(embed_dim=48, num_heads=2, img_size=32)
    sd = timm.create_model("vit_small_patch16_224.dino", pretrained=False, num_classes=0, **kw).state_dict()
    torch.save(sd, tmp_path / "dino_deitsmall16_pretrain.pth")
    d = DinoDiscriminator(weights=str(tmp_path / "dino_deitsmall16_pretrain.pth"), **kw)
    assert torch.equal(d.vit.net.pos_embed, sd["pos_embed"])
    assert d(torch.rand(2, 3, 64, 64)).shape == (2, 5 * 4)
    with pytest.raises(FileNotFoundError, match="huggingface.co/timm/vit_small_patch16_224.dino"):
        DinoDiscriminator(weights=str(tmp_path / "nope.pth"))


def test_paper_recipe_lists_its_pretrained_networks(tmp_path):
    "restok_l_128's configuration names LPIPS, the DINO discriminator with DiffAugment and the VF teacher: on or off."
    from restok_nb.config import config_from_params
    files = {k: tmp_path / f"{k}.bin" for k in ("vf_weights", "perceptual_weights", "disc_weights")}
    for f in files.values(): f.write_bytes(b"")
    off, on = [], []
    c_off = config_from_params(dict(preset="restok_l_128"), log=off.append)
    c_on = config_from_params(dict(preset="restok_l_128", **{k: str(v) for k, v in files.items()}), log=on.append)
    wants = ("timm weights of vit_large_patch16_dinov3", "vgg16-397923af.pth", "dino_deitsmall16_pretrain.pth")
    for line, on_line, what, want, (k, f) in zip(off, on, ("VF alignment", "LPIPS-vgg perceptual loss (learned heads)",
                                                           "DINO discriminator"), wants, files.items()):
        assert line.startswith(what) and ": OFF in this run" in line and want in line, line
        assert on_line.startswith(what) and on_line.endswith(f": on, weights {f}"), on_line
    assert "with DiffAugment (color,translation,cutout)" in on[2] and "weight 0.5 from step 20000" in on[2]
    assert (c_off.disc_weight, c_off.perceptual_net, c_off.vf_teacher) == (0.0, "", "")
    assert (c_on.disc_net, c_on.disc_weight, c_on.perceptual_net) == ("dino", 0.5, "vgg")


def test_teacher_without_local_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "w.safetensors"; bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="could not build VF teacher"):
        FrozenTeacher("vit_tiny_patch16_224", str(bad))


def test_bf16_and_grad_accum_on_cpu(tmp_path):
    c = small(tmp_path / "run", stage="tokenizer", steps=2, precision="bf16", grad_accum=2, device="cpu")
    run_pipeline(c, log=lambda m: None)
    assert (tmp_path / "run" / "tokenizer" / "done.json").exists()


def test_run_folder_in_use_is_refused(tmp_path):
    import fcntl
    (tmp_path / "run").mkdir()
    with open(tmp_path / "run" / ".lock", "a+") as f:                     # another process holds the folder
        holder = subprocess.Popen([sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'a+'); "
                                   "fcntl.flock(f, fcntl.LOCK_EX); f.write('4242'); f.flush(); print('ok', flush=True); "
                                   "time.sleep(60)", str(tmp_path / "run" / ".lock")], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "ok"
        try:
            with pytest.raises(ConfigError, match="in use by another running training process"):
                run_pipeline(small(tmp_path / "run", stage="tokenizer", steps=2), log=lambda m: None)
        finally:
            holder.kill(); holder.wait()


def test_image_folder_pipeline_with_a_corrupt_file(tmp_path):
    from PIL import Image
    import numpy as np
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            d = tmp_path / "data" / split / cls; d.mkdir(parents=True)
            for i in range(6):
                Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(d / f"{i}.png")
            good = (d / "0.png").read_bytes()
            (d / "broken.png").write_bytes(good[: len(good) // 3])               # truncated file
    c = small(tmp_path / "run", dataset="folder", data_dir=str(tmp_path / "data"), steps=3, gen_steps=3,
              eval_images=8, eval_samples_per_class=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = run_pipeline(c, log=lambda m: None)
    assert summary["tokenizer"]["heldout_images"] == 8 and summary["generator"]["samples"] == 2
    assert summary["tokenizer"]["rfid"] >= 0                                    # your own data gets a judge classifier too
    assert 0 <= summary["generator"]["class_accuracy"] <= 1 and summary["generator"]["fid"] >= 0


def test_photos_recipe_smoke(tmp_path):
    "`-p dataset photos`: the natural-image recipe end to end, at smoke size (the CI's photos run)."
    from restok_nb.config import DATASET_RECIPES, config_from_params
    full = config_from_params(dict(dataset="photos"), log=lambda m: None)
    assert (full.steps, full.eval_every, full.preset) == (DATASET_RECIPES["tiny", "photos"]["steps"],
                                                          DATASET_RECIPES["tiny", "photos"]["eval_every"], "tiny_natural")
    sizes = {k: v for k, v in dataclasses.asdict(small(tmp_path / "run")).items() if k not in ("dataset", "preset")}
    c = config_from_params(dict(sizes, dataset="photos", eval_images=40), log=lambda m: None)
    assert c.preset == "tiny_natural"
    summary = run_pipeline(c, log=lambda m: None)
    tok, gen = summary["tokenizer"], summary["generator"]
    assert tok["heldout_images"] == 40 and len(tok["codes_used"]) == 6 and tok["psnr"] > 5
    assert 0 <= gen["class_accuracy"] <= 1 and gen["samples"] == 20 and gen["fid"] >= 0   # 10 photographs × 2
