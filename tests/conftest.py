"""Shared pytest fixtures: where the parity vectors made with the paper's code live."""
import hashlib
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may download

import pytest
from restok_nb.official import reference_dir as _find_reference_dir


@pytest.fixture(scope="session")
def reference_dir():
    """The parity-vector folder (`$RESTOK_REFERENCE_DIR` or `../shared/reference`); skips the test where absent."""
    d = _find_reference_dir()
    if d is None:
        pytest.skip("parity vectors not found: set RESTOK_REFERENCE_DIR or place shared/reference beside the repo")
    return d


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face hub cache in tmp_path, read offline (HF_HUB_CACHE, HF_HUB_OFFLINE=1, also in the
    kernels papermill starts). `hub_cache(repo_id, folder)` lays out `folder`'s files as huggingface_hub leaves a
    downloaded repository — content-addressed blobs, a snapshot of links to them, refs/main naming its commit —
    and returns the snapshot folder; `hub_cache.path` is the cache."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def add(repo_id: str, folder: Path) -> Path:
        repo = cache / ("models--" + repo_id.replace("/", "--"))
        commit = hashlib.sha1(repo_id.encode()).hexdigest()
        snapshot = repo / "snapshots" / commit
        (repo / "blobs").mkdir(parents=True)
        snapshot.mkdir(parents=True)
        for f in Path(folder).iterdir():
            data = f.read_bytes()
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
            (snapshot / f.name).symlink_to(Path("..", "..", "blobs", blob.name))
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(commit)
        return snapshot
    add.path = cache
    return add


CHROMIUM = Path("/usr/bin/chromium")   # Debian's, driven headless through playwright (test_browser, test_docs)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    "A headless Chromium for the module's tests (the test modules skip first when it or playwright is missing)."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
