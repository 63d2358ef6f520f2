"""Hostile inputs: damaged run folders and artifacts, misleading image folders, bad paths.

Each case asserts either a clear error naming what was wrong, or the correct recovery (the last
good state used, the result identical to an undamaged run's)."""
import io, json, os, re, shutil, subprocess, sys, time, warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restok_nb.config import ConfigError, TrainConfig
from restok_nb.data import make_dataset
from restok_nb.image_files import ImageFolder, load_rgb
from restok_nb.loops import train_loop
from restok_nb.runs import (ArtifactDamaged, Run, checksum_path, commit_file, latest_checkpoint, list_checkpoints,
                            load_generator, load_tokenizer, read_json, save_checkpoint, save_weights, verify_file,
                            write_json)
from restok_nb.train import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def small(out, **kw) -> TrainConfig:
    "A whole pipeline in seconds: colours at 32 px, four steps per stage."
    base = dict(dataset="colours", image_size=32, steps=4, batch_size=4, warmup_steps=1, quantizer_warmup=1,
                gen_steps=4, gen_batch_size=8, gen_warmup_steps=1, ckpt_every=2, log_every=2, eval_every=0,
                eval_samples_per_class=1, eval_images=16, classifier_steps=5, out_dir=str(out), max_threads=1)
    return TrainConfig(**{**base, **kw})


def quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    "A finished run folder (tokenizer, codes, generator, classifier, summary), copied by each test that damages it."
    d = tmp_path_factory.mktemp("finished") / "run"
    quiet(run_pipeline, small(d), log=lambda m: None)
    return d


def copy_of(finished, tmp_path) -> tuple[Path, TrainConfig]:
    d = tmp_path / "run"
    shutil.copytree(finished, d)
    return d, small(d)


def rerun(c) -> str:
    logs = []
    quiet(run_pipeline, c, log=logs.append)
    return "\n".join(logs)


# ---------------------------------------------------------------- artifacts: damaged → rebuilt, or a clear error

@pytest.mark.parametrize("stage, damage", [
    ("tokenizer", "garbage_4k"), ("generator", "truncate"), ("tokenizer", "config_truncated"),
    ("generator", "nan_weights"), ("tokenizer", "no_sidecar"), ("generator", "done_garbage"),
])
def test_damaged_final_stage_is_rebuilt_from_its_checkpoint(finished, tmp_path, stage, damage):
    d, c = copy_of(finished, tmp_path)
    model = d / stage / "model.safetensors"
    good = model.read_bytes()
    if damage == "garbage_4k": model.write_bytes(good[:-4096] + os.urandom(4096))
    elif damage == "truncate": model.write_bytes(good[: len(good) // 3])
    elif damage == "config_truncated": (d / stage / "config.json").write_text('{"width": 6')
    elif damage == "nan_weights":                       # bytes and checksum consistent, values unusable
        from safetensors.torch import load_file
        sd = load_file(str(model)); k = next(iter(sd)); sd[k] = sd[k].float() * float("nan")
        save_weights(model, sd)
    elif damage == "no_sidecar": checksum_path(model).unlink()
    elif damage == "done_garbage": (d / stage / "done.json").write_bytes(b"\x00\x01")
    text = rerun(c)
    if damage != "done_garbage":
        assert f"{stage}: " in text and str(d / stage) in text, text                 # reported by path
    assert "resuming from" in text and "(step 4 of 4)" in text, text                   # the last intact checkpoint
    assert model.read_bytes() == good                                               # the same final weights
    verify_file(model); verify_file(d / stage / "config.json")


def test_damaged_final_stage_without_intact_checkpoint_says_what_to_do(finished, tmp_path):
    d, c = copy_of(finished, tmp_path)
    model = d / "tokenizer" / "model.safetensors"
    model.write_bytes(model.read_bytes()[:100])
    for ck in list_checkpoints(d / "tokenizer" / "checkpoints"):
        (ck / "state.pt").write_bytes(b"")                                           # every checkpoint damaged too
    with pytest.raises(ArtifactDamaged, match=r"tokenizer/model.safetensors is damaged.*no intact checkpoint.*"
                                              r"delete the folder .*tokenizer and rerun"):
        rerun(c)


def test_stage_generator_with_resume_false_names_the_file(finished, tmp_path):
    d, c = copy_of(finished, tmp_path)
    (d / "tokenizer" / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ArtifactDamaged, match=r"tokenizer/model.safetensors is damaged.*resume=True"):
        rerun(small(d, stage="generator", resume=False))


@pytest.mark.parametrize("name", ["codes.npy", "labels.npy", "done.json"])
def test_damaged_codes_are_extracted_again(finished, tmp_path, name):
    d, c = copy_of(finished, tmp_path)
    f = d / "codes" / name
    good = (d / "codes" / "codes.npy").read_bytes()
    f.write_bytes(f.read_bytes()[:-16] + b"\xff" * 16)
    text = rerun(c)
    assert "extracting them again" in text and name in text, text
    assert (d / "codes" / "codes.npy").read_bytes() == good
    verify_file(f)


def test_damaged_classifier_is_trained_again(finished, tmp_path):
    d, c = copy_of(finished, tmp_path)
    f = d / "classifier.safetensors"
    f.write_bytes(f.read_bytes()[:-4096] + b"\x00" * 4096)
    text = rerun(c)
    assert "judge classifier" in text and "classifier.safetensors is damaged" in text, text
    verify_file(f); verify_file(f.with_suffix(".json"))


@pytest.mark.parametrize("content, msg", [('{"preset": "tiny", "steps', "config.json is damaged"),
                                          ("[1, 2]", "holds a list, not a run configuration")])
def test_damaged_run_config_is_a_clear_error(finished, tmp_path, content, msg):
    d, c = copy_of(finished, tmp_path)
    (d / "config.json").write_text(content)
    if content.startswith("["): checksum_path(d / "config.json").unlink()          # a hand-written file
    with pytest.raises(ConfigError, match=msg) as e:
        rerun(c)
    assert str(d / "config.json") in str(e.value) and "delete" in str(e.value)


def test_leftovers_of_interrupted_writes_are_cleaned(finished, tmp_path):
    d, c = copy_of(finished, tmp_path)
    leftovers = [d / "tokenizer" / "checkpoints" / ".tmp-step_00000006", d / "generator" / "model.safetensors.tmp",
                 d / "codes" / "codes.tmp.npy", d / "codes" / "labels.tmp.npy.sha256", d / "summary.json.tmp",
                 d / "classifier.tmp.safetensors"]
    leftovers[0].mkdir(); (leftovers[0] / "state.pt").write_bytes(b"half")
    for f in leftovers[1:]: f.write_bytes(b"half a file")
    text = rerun(c)
    assert not any(p.exists() for p in leftovers)
    assert all(f"removed {p}" in text for p in leftovers), text


def test_evaluate_cli_names_a_damaged_file(finished, tmp_path):
    d, _ = copy_of(finished, tmp_path)
    (d / "generator" / "config.json").write_text("{")
    out = subprocess.run([sys.executable, "-m", "restok_nb.evaluate", "gfid", "--run-dir", str(d), "--dataset", "colours",
                          "--num-samples", "2", "--num-images", "4", "--cpu"], cwd=ROOT, env=ENV,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert f"error: {d / 'generator' / 'config.json'} is damaged" in out.stderr, out.stderr


def test_train_cli_names_a_bad_config_file(tmp_path):
    cfg = tmp_path / "cfg.json"; cfg.write_text('{"steps": ')
    out = subprocess.run([sys.executable, "-m", "restok_nb.train", str(cfg)], cwd=ROOT, env=ENV,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "Traceback" not in out.stderr and f"cannot read the config {cfg}" in out.stderr


# ---------------------------------------------------------------- weights, checkpoints, JSON: checked on read

def test_weights_dtype_finiteness_and_checksums(tmp_path):
    from restok_nb.tokenizer import from_preset
    from restok_nb.runs import save_final
    tok = from_preset("tiny")
    save_final(tmp_path / "t", "model.safetensors", tok.state_dict(), asdict(tok.config), 1)
    sd = {k: v.clone() for k, v in tok.state_dict().items()}
    k = next(n for n, v in sd.items() if v.is_floating_point())
    sd[k] = sd[k].to(torch.int32)                                                  # a float tensor stored as int
    save_weights(tmp_path / "t" / "model.safetensors", sd)
    with pytest.raises(ArtifactDamaged, match=rf"wrong type: {k} torch.int32 \(model: torch.float32\)"):
        load_tokenizer(tmp_path / "t")
    sd[k] = torch.full_like(tok.state_dict()[k], float("inf"))
    save_weights(tmp_path / "t" / "model.safetensors", sd)
    with pytest.raises(ArtifactDamaged, match=f"NaN or infinite values in 1 tensor.*{k}"):
        load_tokenizer(tmp_path / "t")
    checksum_path(tmp_path / "t" / "model.safetensors").unlink()
    with pytest.raises(ArtifactDamaged, match="no checksum file"):
        load_tokenizer(tmp_path / "t", strict=True)
    with pytest.warns(UserWarning, match="using it unverified"), pytest.raises(ArtifactDamaged, match="NaN"):
        load_tokenizer(tmp_path / "t")                                              # legacy: warned, still checked


@pytest.mark.parametrize("damage, msg", [("int", r"1 of the wrong type: {k} torch.int64 \(model: torch.float32\)"),
                                         ("nan", r"1 holding NaN or infinite values: {k}")])
def test_official_weights_are_checked_for_type_and_values(tmp_path, damage, msg):
    "A reference-format checkpoint with an integer or a NaN tensor is refused by name, not cast or loaded."
    from restok_nb.official import CheckpointError, load_state_dict_checked, read_state_dict
    from restok_nb.tokenizer import from_preset
    from safetensors.torch import save_file
    sd = {k: v.clone() for k, v in from_preset("tiny").state_dict().items()}
    k = next(n for n, v in sd.items() if v.is_floating_point() and v.dim() == 2)
    sd[k] = sd[k].round().long() if damage == "int" else sd[k].index_fill(0, torch.tensor([0]), float("nan"))
    save_file(sd, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=msg.format(k=re.escape(k))):
        load_state_dict_checked(from_preset("tiny"), read_state_dict(tmp_path / "model.safetensors"), what="tokenizer")


def test_interrupted_commit_reads_as_damaged(tmp_path):
    write_json(tmp_path / "a.json", {"v": 1})
    (tmp_path / "a.json.tmp").write_text('{"v": 2}\n')
    os.replace(tmp_path / "a.json.tmp", tmp_path / "a.json")                        # new file, old sidecar: a crash
    with pytest.raises(ArtifactDamaged, match="a.json is damaged"):
        read_json(tmp_path / "a.json")


def test_checkpoint_with_nonfinite_weights_is_skipped(tmp_path):
    save_checkpoint(tmp_path, 1, {"m": {"w": torch.ones(3)}}, {"s": 1})
    save_checkpoint(tmp_path, 2, {"m": {"w": torch.tensor([1.0, float("nan"), 0.0])}}, {"s": 2})
    logs = []
    path, meta, _, _ = quiet(latest_checkpoint, tmp_path, log=logs.append)
    assert meta["step"] == 1 and "NaN or infinite" in logs[0] and "step_00000002" in logs[0]


# ---------------------------------------------------------------- paths

def test_out_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"; f.write_text("x")
    with pytest.raises(ConfigError, match=f"out_dir {f} is a file, not a folder"):
        run_pipeline(small(f), log=lambda m: None)
    with pytest.raises(ConfigError, match=f"out_dir {f / 'sub'} cannot be created"):
        run_pipeline(small(f / "sub"), log=lambda m: None)


def test_lock_that_is_not_a_lock(tmp_path):
    (tmp_path / "run" / ".lock").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"\.lock is not a lock file"):
        run_pipeline(small(tmp_path / "run"), log=lambda m: None)


# ---------------------------------------------------------------- memory

def _live_optimizers() -> int:
    import gc
    gc.collect()
    with warnings.catch_warnings():                    # isinstance on torch.distributed's deprecated aliases warns
        warnings.simplefilter("ignore")
        return sum(isinstance(o, torch.optim.Optimizer) for o in gc.get_objects())


def test_a_finished_stage_is_freed_before_the_next(tmp_path, monkeypatch):
    "No optimiser (nor the model it holds) of the tokenizer stage is alive while the generator trains or the run is evaluated."
    import restok_nb.train as tr
    seen, before = {}, _live_optimizers()

    def spy(name, fn):
        def wrapped(*a, **kw):
            seen[name] = _live_optimizers() - before
            return fn(*a, **kw)
        return wrapped
    monkeypatch.setattr(tr, "extract_codes", spy("generator", tr.extract_codes))
    monkeypatch.setattr(tr, "_summarize", spy("evaluation", tr._summarize))
    quiet(run_pipeline, small(tmp_path / "run"), log=lambda m: None)
    assert seen == {"generator": 0, "evaluation": 0}, seen


def test_a_run_that_cannot_fit_is_refused_before_it_starts(tmp_path, monkeypatch):
    import restok_nb.train as tr
    monkeypatch.setattr(tr, "memory_available", lambda device: (50 * 2**20, "this machine's available RAM"))
    with pytest.raises(ConfigError, match=r"tokenizer stage needs at least 4\.2 GiB .*but this machine's available RAM "
                                          r"is 0\.0 GiB\. Lower it: a smaller preset"):
        run_pipeline(small(tmp_path / "run", preset="restok_b_128", image_size=256), log=lambda m: None)
    assert not (tmp_path / "run").exists()              # refused before the run folder was made


# ---------------------------------------------------------------- sec_per_step

def test_sec_per_step_counts_the_steps_of_each_interval(tmp_path):
    run = Run(TrainConfig(out_dir=str(tmp_path), log_every=4, ckpt_every=2, eval_every=0), log=lambda m: None)

    def step(i):
        time.sleep(0.03 if i < 4 else 0.12)             # the short last interval holds the slow steps
        return 0.1, {"loss": 1.0}
    train_loop(run, "demo", 0, 6, step, lambda done: time.sleep(0.3))        # slow checkpoints are not step time
    rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 6]
    assert 0.03 <= rows[0]["sec_per_step"] < 0.06 and 0.12 <= rows[1]["sec_per_step"] < 0.16, rows


# ---------------------------------------------------------------- image folders

def _png(path: Path, colour=(200, 30, 30), size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _exif_jpeg(path: Path):
    "A landscape-stored JPEG whose EXIF says: rotate 90° to view (a phone's portrait photo)."
    exif = Image.Exif(); exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 12), (10, 200, 10)).save(path, exif=exif.tobytes())


@pytest.fixture
def hostile(tmp_path):
    "train/ and val/ with rotated, truncated, empty, mislabelled and linked files; (root, {train file: reason})."
    root = tmp_path / "data"
    for split in ("train", "val"):
        for k, cls in enumerate(("cat", "dog", "fox")):
            for i in range(3): _png(root / split / cls / f"{i}.png", (80 * k, 40 * i, 0))
    t = root / "train"
    _exif_jpeg(t / "cat" / "portrait.jpg")
    buf = io.BytesIO(); Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, "PNG")
    (t / "cat" / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])   # truncated
    (t / "dog" / "empty.jpg").write_bytes(b"")                                      # zero bytes
    (t / "dog" / "readme.png").write_text("not an image")                           # wrong extension
    (t / "cat" / "loop").symlink_to(t / "cat")                                      # a loop
    (t / "cat" / "foxes").symlink_to(t / "fox")                                     # into another class
    outside = tmp_path / "elsewhere"; _png(outside / "x.png")
    (t / "dog" / "outside.png").symlink_to(outside / "x.png")                       # out of the dataset root
    (t / "fox" / "gone.png").symlink_to(t / "fox" / "never.png")                    # broken
    (t / "fox" / "again.png").symlink_to(t / "fox" / "0.png")                       # a second name: read once
    skipped = {"cat/cut.png": "truncated", "dog/empty.jpg": "not an image", "dog/readme.png": "not an image",
               "cat/loop": "symlink loop", "cat/foxes": "symlink into another class's folder",
               "dog/outside.png": "symlink leaving the dataset root", "fox/gone.png": "broken symlink"}
    return root, skipped


def test_exif_orientation_is_applied(tmp_path):
    _exif_jpeg(tmp_path / "p.jpg")
    assert load_rgb(tmp_path / "p.jpg").size == (12, 24)
    _png(tmp_path / "c" / "a" / "0.png")
    _exif_jpeg(tmp_path / "c" / "a" / "p.jpg")
    x, _ = ImageFolder(tmp_path / "c")[1]
    assert x.shape == (3, 24, 12)                                                   # portrait, as photographed


def test_symlinks_are_followed_only_inside_their_class(hostile):
    root, skipped = hostile
    with pytest.warns(UserWarning, match="not following 4 symlink") as w:
        ds = ImageFolder(root / "train")
    msg = str(w[0].message)
    assert all(name in msg for name in ("cat/loop", "cat/foxes", "dog/outside.png", "fox/gone.png"))
    names = sorted(str(p.relative_to(ds.root)) for p, _ in ds.samples)
    assert len(names) == 3 * 3 + 4                                                  # 9 pngs + portrait, cut, empty, readme
    assert not any("loop" in n or "foxes" in n or "again" in n for n in names)


def test_one_class_list_for_all_splits(hostile):
    root, _ = hostile
    shutil.rmtree(root / "val" / "cat")                                             # val lacks a class: ids unchanged
    val = quiet(make_dataset, "folder", "val", 16, data_dir=root)
    assert val.classes == ["cat", "dog", "fox"] and {y for _, y in val.samples} == {1, 2}
    _png(root / "val" / "wolf" / "0.png")                                           # a class train/ lacks
    with pytest.raises(ValueError, match=r"does not have: wolf"):
        quiet(make_dataset, "folder", "val", 16, data_dir=root)


def test_unreadable_file_is_replaced_within_its_class(hostile):
    root, _ = hostile
    ds = quiet(ImageFolder, root / "train", image_size=8)
    for i, (p, y) in enumerate(ds.samples):
        assert quiet(ds.__getitem__, i)[1] == y                                     # never another class's label


def test_class_with_no_readable_image_is_named(hostile, tmp_path):
    root, _ = hostile
    for f in (root / "train" / "fox").glob("*.png"):
        if not f.is_symlink(): f.write_bytes(b"broken")
    ds = quiet(ImageFolder, root / "train")
    fox = ds.classes.index("fox")
    with pytest.raises(ValueError, match="class 'fox'.*has no readable image"):
        quiet(ds.__getitem__, ds.spans[fox][0])
    with pytest.raises(ValueError, match="have no readable image: fox"):
        quiet(ds.scan)
    c = small(tmp_path / "run", dataset="folder", data_dir=str(root), image_size=32)
    with pytest.raises(ConfigError, match=f"data_dir {root}: .*no readable image: fox"):
        run_pipeline(c, log=lambda m: None)


def test_class_folder_linked_from_outside_is_named(tmp_path):
    for cls in ("a", "b"): _png(tmp_path / "data" / "train" / cls / "0.png")
    _png(tmp_path / "store" / "c" / "0.png")
    (tmp_path / "data" / "train" / "c").symlink_to(tmp_path / "store" / "c")
    with pytest.raises(FileNotFoundError, match=r"hold no image files \(c\).*links not followed: c \(symlink leaving"):
        quiet(ImageFolder, tmp_path / "data" / "train")


def test_pipeline_on_a_hostile_folder_names_every_skipped_file(hostile, tmp_path):
    root, skipped = hostile
    (root / "val" / "dog" / "bad.png").write_bytes(b"\x89PNG garbage")
    c = small(tmp_path / "run", dataset="folder", data_dir=str(root), image_size=32, steps=2, gen_steps=2,
              eval_images=6, classifier_steps=3)
    logs = []
    summary = quiet(run_pipeline, c, log=logs.append)
    report = read_json(tmp_path / "run" / "skipped_files.json")
    got = {f: r for f, r in report["train"]["skipped"].items()}
    assert set(got) == set(skipped), got
    assert all(got[f].startswith(skipped[f]) for f in skipped), [(f, got[f]) for f in skipped if not got[f].startswith(skipped[f])]
    assert report["val"]["skipped"] == {"dog/bad.png": "not an image"}
    assert any("8 images left out" in m for m in logs), logs
    assert summary["generator"]["samples"] == 3                                    # every class kept its id
    codes_labels = np.load(tmp_path / "run" / "codes" / "labels.npy")
    assert len(codes_labels) == 3 * 3 + 1 and sorted(set(codes_labels.tolist())) == [0, 1, 2]   # 9 pngs + the portrait


def _shard(path: Path, samples: dict[str, dict[str, bytes]]):
    import tarfile
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for key, fields in samples.items():
            for ext, payload in fields.items():
                info = tarfile.TarInfo(f"{key}.{ext}"); info.size = len(payload); tar.addfile(info, io.BytesIO(payload))


def test_pipeline_on_hostile_shards_names_every_skipped_sample(tmp_path):
    "Webdataset shards with a truncated image, a sample without a label and one without an image: all three reported."
    def png(colour):
        buf = io.BytesIO(); Image.new("RGB", (12, 10), colour).save(buf, format="PNG"); return buf.getvalue()
    good = {f"g{i}": {"png": png((40 * i, 90, 200 - 40 * i)), "cls": str(i % 2).encode()} for i in range(4)}
    bad = {"trunc": {"png": png((1, 2, 3))[:30], "cls": b"0"}, "nolabel": {"png": png((9, 9, 9))},
           "noimage": {"cls": b"1"}}
    _shard(tmp_path / "data" / "train" / "shard-000000.tar", {**good, **bad})
    _shard(tmp_path / "data" / "val" / "shard-000000.tar", good)
    c = small(tmp_path / "run", dataset="webdataset", data_dir=str(tmp_path / "data"), steps=2, gen_steps=2,
              eval_images=4, classifier_steps=3)
    logs = []
    quiet(run_pipeline, c, log=logs.append)
    report = read_json(tmp_path / "run" / "skipped_files.json")
    shard = tmp_path / "data" / "train" / "shard-000000.tar"
    assert report["train"]["files"] == 4 and report["val"] == {**report["val"], "files": 4, "skipped": {}}, report
    got = report["train"]["skipped"]
    assert set(got) == {f"'trunc' (field 'png') in {shard}", f"'nolabel' in {shard}", f"'noimage' in {shard}"}, got
    assert got[f"'nolabel' in {shard}"] == "it has no label field (cls)"
    assert got[f"'noimage' in {shard}"] == "it has no image field (jpg, jpeg, png, webp)"
    assert any("3 images left out" in m for m in logs), logs


def test_load_or_train_rebuilds_a_damaged_model(finished, tmp_path):
    from restok_nb.train import load_or_train
    d = tmp_path / "moved"
    shutil.copytree(finished, d)                                                    # config.json names the old folder
    model = d / "generator" / "model.safetensors"
    good = model.read_bytes()
    model.write_bytes(good[:-64])
    logs, before = [], (finished / "metrics.jsonl").read_text()
    tok, har = quiet(load_or_train, d, log=logs.append)
    assert "generator/model.safetensors is damaged" in logs[0] and "rebuild" in logs[0], logs
    assert model.read_bytes() == good and har is not None
    assert (finished / "metrics.jsonl").read_text() == before                        # rebuilt here, not in the old folder
