"""Datasets: built-in digits and colours, messy image folders, webdataset shards, transforms, the factory."""
import io
import tarfile
import time
import warnings
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

import hashlib
import pickle
import torchvision.datasets as tvd
from restok_nb.data import DATASETS, PHOTOS, TensorImages, colours, digits, make_dataset, photos
from restok_nb.image_files import (ImageFolder, eval_transform, load_rgb, shard_list, to_rgb, train_transform,
                                   webdataset_shards)

torch.set_num_threads(1)
S = 24  # image size used for folder / shard tests


def _noise(h=48, w=64, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def _jpeg_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _assert_image(x, size=S):
    assert type(x) is torch.Tensor and x.dtype == torch.float32, (type(x), x.dtype)
    assert x.shape == (3, size, size), x.shape
    assert 0 <= x.min() and x.max() <= 1


# ---------------------------------------------------------------- digits
def test_digits_shapes_ranges_and_labels():
    tr, te = digits("train"), digits("test")
    assert len(tr) + len(te) == 1797
    assert tr.images.shape[1:] == (3, 32, 32) and tr.images.dtype == torch.float32
    assert tr.labels.dtype == torch.int64 and tr.num_classes == 10 and tr.classes == [str(i) for i in range(10)]
    for ds in (tr, te, digits("test", image_size=4)):                     # upsampled and shrunk (antialias)
        assert 0 <= ds.images.min() and ds.images.max() <= 1
        assert torch.equal(ds.images[:, 0], ds.images[:, 2])             # grey repeated to 3 channels
    assert tr.images.max() == 1 and tr.images.min() == 0
    x, y = tr[5]
    assert x.shape == (3, 32, 32) and isinstance(y, int)


def test_digits_split_is_disjoint_stratified_and_fixed():
    from sklearn.datasets import load_digits
    d = load_digits()
    full = Counter(tuple(r) for r in (d.images / 16).reshape(-1, 64).round(4).tolist())
    tr, te = digits("train", image_size=8), digits("test", image_size=8)  # 8x8: no resampling
    rows = lambda ds: [tuple(r) for r in ds.images[:, 0].reshape(-1, 64).double().round(decimals=4).tolist()]
    assert Counter(rows(tr)) + Counter(rows(te)) == full                   # a partition of the whole set
    per_class = torch.bincount(torch.from_numpy(d.target))
    assert torch.equal(torch.bincount(te.labels), (per_class * 0.2).round().long())  # 20 % of every class
    assert torch.equal(torch.bincount(tr.labels) + torch.bincount(te.labels), per_class)
    assert torch.equal(digits("test", image_size=8).labels, te.labels)    # same split every time
    assert digits("test", image_size=8).images is te.images               # cached per (split, size)


def test_digits_bad_split():
    with pytest.raises(ValueError, match="'train' and 'test'"):
        digits("validation")


# ---------------------------------------------------------------- colours
def test_colours_deterministic_and_splits_differ():
    a, b = colours("train", n=300, seed=3), colours("train", n=300, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(colours("train", n=300, seed=4).images, a.images)
    tr, te = colours("train", image_size=16), colours("test", image_size=16)
    assert (len(tr), len(te)) == (2000, 500)
    flat_tr = {tuple(r) for r in tr.images.flatten(1).mul(1e4).round().long().tolist()}
    assert not any(tuple(r) in flat_tr for r in te.images.flatten(1).mul(1e4).round().long().tolist())
    assert torch.equal(torch.bincount(tr.labels), torch.full((10,), 200))
    assert tr.classes[0] == "red disc" and len(set(tr.classes)) == 10
    assert 0 <= tr.images.min() and tr.images.max() <= 1 and tr.images.shape[1:] == (3, 16, 16)


def test_colours_is_fast():
    colours("train", n=100)                                                # warm up
    t = time.perf_counter()
    colours("train", n=3000)
    assert time.perf_counter() - t < 2.0                                   # < 1 s on an idle core


def test_colours_classes_are_separable_but_images_vary():
    tr, te = colours("train"), colours("test")
    means = torch.stack([tr.images[tr.labels == c].mean(0) for c in range(10)])  # (10, 3, 32, 32)
    d = torch.cdist(means.flatten(1), means.flatten(1))
    assert d[~torch.eye(10, dtype=torch.bool)].min() > 1.0                 # per-class mean images differ
    thumb = lambda ds: torch.nn.functional.adaptive_avg_pool2d(ds.images, 8).flatten(1)
    centroids = torch.stack([thumb(tr)[tr.labels == c].mean(0) for c in range(10)])
    acc = (torch.cdist(thumb(te), centroids).argmin(1) == te.labels).float().mean()
    assert acc > 0.5, acc                                                  # chance is 0.1
    same_class = tr.images[tr.labels == 0]
    assert (same_class[0] - same_class[1]).abs().mean() > 0.05            # but no two images alike


# ---------------------------------------------------------------- RGB conversion
def test_to_rgb_modes():
    g16 = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
    assert np.asarray(to_rgb(g16))[0, :, 1].tolist() == [0, 128, 255]
    i32 = Image.fromarray(np.array([[0, 255]], dtype=np.int32))
    assert np.asarray(to_rgb(i32))[0, :, 0].tolist() == [0, 255]
    f = Image.fromarray(np.array([[0.0, 1.0]], dtype=np.float32))
    assert np.asarray(to_rgb(f))[0, :, 0].tolist() == [0, 255]
    rgba = Image.new("RGBA", (1, 1), (0, 0, 0, 0))
    assert np.asarray(to_rgb(rgba))[0, 0].tolist() == [255, 255, 255]      # transparent black -> white
    half = Image.new("RGBA", (1, 1), (0, 0, 255, 128))
    assert np.asarray(to_rgb(half))[0, 0].tolist() == [127, 127, 255]
    key = Image.new("RGB", (1, 1), (10, 20, 30)); key.info["transparency"] = (10, 20, 30)
    assert np.asarray(to_rgb(key))[0, 0].tolist() == [255, 255, 255]      # colour-key transparency
    assert np.asarray(to_rgb(Image.new("1", (1, 1), 1)))[0, 0].tolist() == [255, 255, 255]
    assert to_rgb(Image.new("YCbCr", (2, 2))).mode == "RGB"


# ---------------------------------------------------------------- ImageFolder
@pytest.fixture
def messy_folder(tmp_path):
    root = tmp_path / "train"
    for c in ("a_cat", "b_dog", "c_eel"):
        (root / c / "deep" / "er").mkdir(parents=True)
    rgb = _noise()
    Image.fromarray(rgb).save(root / "a_cat" / "rgb.jpg")
    Image.fromarray(rgb[..., 0]).save(root / "a_cat" / "grey.png")
    pal = Image.new("P", (40, 30)); pal.putpalette([0, 0, 0, 255, 0, 0]); pal.paste(1, (10, 10, 30, 20))
    pal.save(root / "a_cat" / "deep" / "er" / "palette.png", transparency=0)
    Image.new("CMYK", (30, 40), (0, 255, 255, 0)).save(root / "b_dog" / "cmyk.jpeg")   # pure red
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0)); rgba.paste((0, 0, 255, 255), (10, 10, 30, 30))
    rgba.save(root / "b_dog" / "rgba.png")
    Image.fromarray(np.linspace(0, 65535, 40 * 40).astype(np.uint16).reshape(40, 40)).save(root / "b_dog" / "g16.png")
    data = _jpeg_bytes(_noise(64, 64, seed=1))
    (root / "c_eel" / "truncated.jpg").write_bytes(data[:len(data) // 2])
    (root / "c_eel" / "text.jpg").write_text("this is not a picture\n" * 20)
    Image.fromarray(_noise(20, 30, seed=2)).save(root / "c_eel" / "deep" / "ok.png")
    (root / "c_eel" / "notes.txt").write_text("ignored: not an image extension")
    (root / ".hidden").mkdir(); Image.fromarray(rgb).save(root / ".hidden" / "x.jpg")
    return root


def test_image_folder_iterates_messy_files(messy_folder):
    ds = ImageFolder(messy_folder, image_size=S)
    assert ds.classes == ["a_cat", "b_dog", "c_eel"] and ds.num_classes == 3 and len(ds) == 9
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds))] + [ds[i] for i in range(len(ds))]  # two epochs
        batches = list(torch.utils.data.DataLoader(ds, batch_size=4))
    bad = [w for w in caught if "unreadable" in str(w.message)]
    assert len(bad) == 2                                                   # one warning per bad file, ever
    assert sum(len(b[0]) for b in batches) == len(ds)
    for x, y in items: _assert_image(x)
    assert {p.name: r for p, r in ds.skipped.items()} == {"truncated.jpg": "truncated", "text.jpg": "not an image"}
    report = ds.report()
    assert report.startswith("2 of 9 files unreadable") and "truncated.jpg (truncated)" in report
    assert "text.jpg (not an image)" in report
    names = [p.name for p, _ in ds.samples]
    got = {names[i]: x for i, (x, _) in enumerate(items[:len(ds)])}
    assert torch.allclose(got["palette.png"][:, 0, 0], torch.ones(3))   # palette transparency -> white
    assert torch.allclose(got["rgba.png"][:, 0, 0], torch.ones(3))      # alpha -> white, not black
    assert got["rgba.png"][2, S // 2, S // 2] > 0.9 > got["rgba.png"][0, S // 2, S // 2]
    assert got["cmyk.jpeg"][0].mean() > 0.9 and got["cmyk.jpeg"][1:].mean() < 0.1  # CMYK red is red
    g16 = got["g16.png"]
    assert 0.3 < g16.mean() < 0.7 and g16.std() > 0.1                      # 16-bit scaled, not clipped to white
    i = names.index("text.jpg")                                            # c_eel: deep/ok.png, text.jpg, truncated.jpg
    assert i == 7 and items[i][1] == 2 and torch.equal(items[i][0], items[6][0])  # next readable one of its class, wrapping round


def test_image_folder_default_transform_and_scan(messy_folder):
    ds = ImageFolder(messy_folder)
    x, y = ds[[p.name for p, _ in ds.samples].index("rgb.jpg")]
    assert x.shape == (3, 48, 64) and x.dtype == torch.float32 and y == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ds.scan().startswith("2 of 9 files unreadable")


def test_image_folder_all_unreadable(tmp_path):
    (tmp_path / "c").mkdir(); (tmp_path / "c" / "x.png").write_bytes(b"\x89PNG nope")
    ds = ImageFolder(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="class 'c' .* has no readable image"):
            ds[0]


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "nope")
    Image.fromarray(_noise()).save(tmp_path / "flat.jpg")
    with pytest.raises(FileNotFoundError, match=r"no class folders.*<class>/<image>"):
        ImageFolder(tmp_path)
    (tmp_path / "cat").mkdir(); (tmp_path / "dog").mkdir()
    Image.fromarray(_noise()).save(tmp_path / "cat" / "x.jpg")
    (tmp_path / "dog" / "readme.md").write_text("")
    with pytest.raises(FileNotFoundError, match=r"1 of 2 class folders .* no image files \(dog\).*<class>/<image>"):
        ImageFolder(tmp_path)
    assert len(ImageFolder(tmp_path, extensions=(".jpg", "md"))) == 2      # extensions with or without the dot


def test_load_rgb_detects_truncation():
    data = _jpeg_bytes(_noise(64, 64))
    assert load_rgb(data).size == (64, 64)
    with pytest.raises(OSError, match="truncated"):
        load_rgb(data[:len(data) // 2])


# ---------------------------------------------------------------- webdataset
def _write_shards(root, n=10, per_shard=4, corrupt=(3,), png=(5,)):
    root.mkdir(parents=True, exist_ok=True)
    labels = [k % 3 for k in range(n)]
    for s in range(0, n, per_shard):
        with tarfile.open(root / f"shard-{s // per_shard:06d}.tar", "w") as tar:
            for k in range(s, min(n, s + per_shard)):
                if k in png:
                    buf = io.BytesIO(); Image.new("LA", (30, 20), (90, 0)).save(buf, format="PNG")
                    files = {f"s{k:04d}.png": buf.getvalue()}
                else:
                    data = _jpeg_bytes(_noise(32, 40, seed=k))
                    files = {f"s{k:04d}.jpg": data[:len(data) // 2] if k in corrupt else data}
                files[f"s{k:04d}.cls"] = str(labels[k]).encode()
                for name, payload in files.items():
                    info = tarfile.TarInfo(name); info.size = len(payload); tar.addfile(info, io.BytesIO(payload))
    return labels


def test_webdataset_skips_corrupt_samples(tmp_path):
    labels = _write_shards(tmp_path / "shards")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = list(webdataset_shards(tmp_path / "shards", transform=eval_transform(S)))
    assert [y for _, y in samples] == [labels[k] for k in range(10) if k != 3]
    for x, y in samples: _assert_image(x); assert isinstance(y, int)
    msgs = [str(w.message) for w in caught if "webdataset sample" in str(w.message)]
    assert len(msgs) == 1 and "s0003" in msgs[0] and "truncated" in msgs[0]
    x5 = samples[4][0]                                                     # the transparent LA png
    assert torch.allclose(x5, torch.ones_like(x5))                         # alpha 0 -> white


def test_webdataset_sources_and_loader(tmp_path):
    _write_shards(tmp_path / "shards", corrupt=())
    shards = sorted(str(p) for p in (tmp_path / "shards").glob("*.tar"))
    assert shard_list(tmp_path / "shards") == shards
    assert shard_list(str(tmp_path / "shards" / "shard-{000000..000002}.tar")) == shards
    assert shard_list(shards[:2]) == shards[:2]
    loader = torch.utils.data.DataLoader(webdataset_shards(shards, transform=eval_transform(S)), batch_size=4)
    xs, ys = zip(*loader)
    assert torch.cat(xs).shape == (10, 3, S, S) and torch.cat(ys).dtype == torch.int64
    shuffled = [y for _, y in webdataset_shards(tmp_path / "shards", transform=eval_transform(S), shuffle=100)]
    assert sorted(shuffled) == sorted(torch.cat(ys).tolist())
    with pytest.raises(FileNotFoundError, match="1 of 4 shards not found"):
        shard_list(str(tmp_path / "shards" / "shard-{000000..000003}.tar"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \*.tar shards"):
        shard_list(tmp_path / "empty")


# ---------------------------------------------------------------- transforms
def test_transforms():
    arr = np.zeros((32, 64, 3), np.uint8); arr[:, 16:48] = 255                # white centre square
    out = eval_transform(32)(Image.fromarray(arr))
    assert out.shape == (3, 32, 32) and out.min() > 0.99                   # centre crop of the shorter side
    sq = torch.rand(3, 32, 32)
    assert torch.allclose(train_transform(32, scale=(1.0, 1.0), hflip=False)(sq), sq)  # crop of the whole image
    flipped = [torch.equal(train_transform(32, scale=(1.0, 1.0))(sq), sq.flip(-1)) for _ in range(40)]
    assert 0 < sum(flipped) < 40                                           # random horizontal flip
    for _ in range(5):
        _assert_image(train_transform(S)(Image.fromarray(_noise(50, 90))))
    assert [r.size for r in train_transform(100).transforms[0].transforms] == [[s] for s in range(100, 126)]  # shorter side S/1.0 ... S/0.8
    with pytest.raises(ValueError, match="scale"):
        train_transform(32, scale=(0.0, 1.0))


# ---------------------------------------------------------------- make_dataset
def test_make_dataset_builtins():
    assert DATASETS == ("digits", "colours", "photos", "cifar10", "cifar100", "mnist", "fashion_mnist", "folder", "webdataset")
    ds = make_dataset("digits", "val", image_size=16)
    assert ds.images is digits("test", 16).images and ds.transform is None
    aug = make_dataset("colours", "train", augment=True)
    x0 = aug.images[0]
    views = [torch.equal(aug[0][0], x0.flip(-1)) for _ in range(40)]
    assert 0 < sum(views) < 40
    assert make_dataset("colours", "test", augment=True).transform is None  # augmentation: train only


def test_make_dataset_folder_and_webdataset(tmp_path, messy_folder):
    data_dir = messy_folder.parent
    (data_dir / "val" / "b_dog").mkdir(parents=True)                        # val lacks a_cat and c_eel
    Image.fromarray(_noise()).save(data_dir / "val" / "b_dog" / "x.jpg")
    tr = make_dataset("folder", "train", S, data_dir=data_dir, augment=True)
    assert isinstance(tr, ImageFolder) and len(tr) == 9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _assert_image(tr[0][0])
    va = make_dataset("folder", "test", S, data_dir=data_dir)
    assert va.classes == ["a_cat", "b_dog", "c_eel"] and va[0][1] == 1        # train/'s class ids
    _assert_image(va[0][0])
    _write_shards(tmp_path / "wds" / "val", n=4, corrupt=())
    got = list(make_dataset("webdataset", "val", S, data_dir=tmp_path / "wds"))  # picks the val/ sub-folder
    assert len(got) == 4
    _assert_image(got[0][0])
    pattern = str(tmp_path / "wds" / "val" / "shard-{000000..000000}.tar")
    assert len(list(make_dataset("webdataset", "train", S, data_dir=pattern, augment=True))) == 4


def test_make_dataset_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*digits, colours, photos, cifar10, cifar100, mnist, fashion_mnist, folder, webdataset"):
        make_dataset("imagenet")
    with pytest.raises(ValueError, match="unknown split"):
        make_dataset("digits", "dev")
    for name in ("folder", "webdataset"):
        with pytest.raises(ValueError, match=rf"make_dataset\('{name}'\) needs data_dir="):
            make_dataset(name)
        with pytest.raises(FileNotFoundError, match="does not exist"):
            make_dataset(name, data_dir=tmp_path / "missing")
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match=r"val not found.*train/<class>/<image> and val/<class>/<image>"):
        make_dataset("folder", "val", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="shards not found"):
        make_dataset("webdataset", data_dir=str(tmp_path / "x-{0..3}.tar"))


# ---------------------------------------------------------------- photos
def test_photos_split_is_disjoint_by_region():
    "Every held-out crop lies in a held-out cell and shares no pixel with any training crop of its photograph."
    train, test = photos("train", n=2000), photos("test", n=500)
    assert train.classes == test.classes == list(PHOTOS) and len(train) == 2000 and len(test) == 500
    for c in range(len(PHOTOS)):
        a, b = train.boxes[train.labels == c], test.boxes[test.labels == c]          # (n, 4) x0, y0, x1, y1
        w = (torch.minimum(a[:, None, 2], b[None, :, 2]) - torch.maximum(a[:, None, 0], b[None, :, 0])).clamp(min=0)
        h = (torch.minimum(a[:, None, 3], b[None, :, 3]) - torch.maximum(a[:, None, 1], b[None, :, 1])).clamp(min=0)
        assert (w * h).max() == 0, PHOTOS[c]
    assert 0 < test.images.std() and not torch.equal(photos("test", n=500, seed=1).images, test.images)
    assert torch.equal(photos("test", n=500).images, test.images)                    # seeded: the same crops again


# ---------------------------------------------------------------- datasets on disk (torchvision's formats)
def _write_cifar(root, cls, monkeypatch, n_train=3, n_test=2):
    "Tiny CIFAR files in torchvision's layout (pickled batches + meta); torchvision's MD5 list patched to match."
    folder = root / cls.base_folder; folder.mkdir(parents=True)
    key = "labels" if cls is tvd.CIFAR10 else "fine_labels"
    rng, md5 = np.random.default_rng(0), {}
    test_names = {n for n, _ in cls.test_list}
    for name, _ in cls.train_list + cls.test_list:
        n = n_test if name in test_names else n_train
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)                         # rows: R plane, G, B
        (folder / name).write_bytes(pickle.dumps({"data": data, key: [int(v) for v in rng.integers(0, 5, n)]}))
    (folder / cls.meta["filename"]).write_bytes(pickle.dumps({cls.meta["key"]: [f"class {i}" for i in range(5)]}))
    for f in folder.iterdir(): md5[f.name] = hashlib.md5(f.read_bytes()).hexdigest()
    monkeypatch.setattr(cls, "train_list", [[n, md5[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, md5[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5[cls.meta["filename"]]})
    return folder


@pytest.mark.parametrize("name, cls", [("cifar10", tvd.CIFAR10), ("cifar100", tvd.CIFAR100)])
def test_cifar_from_disk(tmp_path, monkeypatch, name, cls):
    folder = _write_cifar(tmp_path, cls, monkeypatch)
    train, test = make_dataset(name, "train", 32, data_dir=tmp_path), make_dataset(name, "test", 32, data_dir=tmp_path)
    assert len(train) == 3 * len(cls.train_list) and len(test) == 2 and train.classes[0] == "class 0"
    first = pickle.loads((folder / cls.train_list[0][0]).read_bytes())
    assert torch.equal(train.images[0], torch.from_numpy(first["data"][0].reshape(3, 32, 32)).float() / 255)
    assert make_dataset(name, "train", 16, data_dir=tmp_path).images.shape == (len(train), 3, 16, 16)
    batch = folder / cls.test_list[0][0]
    batch.write_bytes(batch.read_bytes()[:-3] + b"abc")                                # damaged
    with pytest.raises(FileNotFoundError, match=f"damaged .*{batch}"):
        make_dataset(name, "test", 32, data_dir=tmp_path)
    batch.unlink()                                                                     # missing
    with pytest.raises(FileNotFoundError, match=f"missing: {batch}.*{cls.url}"):
        make_dataset(name, "test", 32, data_dir=tmp_path)


def _write_idx(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.array([0x800 + arr.ndim, *arr.shape], dtype=">i4").tobytes() + arr.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family_from_disk(tmp_path, name, folder):
    rng, raw = np.random.default_rng(0), tmp_path / folder / "raw"
    for part, n in (("train", 5), ("t10k", 3)):
        _write_idx(raw / f"{part}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{part}-labels-idx1-ubyte", np.arange(n) % 10)
    ds = make_dataset(name, "train", 28, data_dir=tmp_path)
    first = np.frombuffer((raw / "train-images-idx3-ubyte").read_bytes()[16:16 + 784], np.uint8).reshape(28, 28)
    assert len(ds) == 5 and ds.labels.tolist() == [0, 1, 2, 3, 4] and len(ds.classes) == 10
    assert torch.equal(ds.images[0], torch.from_numpy(first.copy()).float().div(255).expand(3, -1, -1))   # grey -> RGB
    assert make_dataset(name, "test", 32, data_dir=tmp_path).images.shape == (3, 3, 32, 32)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=f"missing: {raw / 't10k-labels-idx1-ubyte'}.*gunzip"):
        make_dataset(name, "test", 32, data_dir=tmp_path)
