"""The blob store seam: local folder store and job manifests (S3 is tested in tests/scale/)."""
from __future__ import annotations

import hashlib

import pytest

from konstrukt.blobstore import LocalBlobStore, Manifest, ManifestEntry, materialize, open_store
from konstrukt.errors import StorageError


def test_local_store_round_trips_files_and_trees(tmp_path):
    store = open_store(tmp_path / "store")
    assert isinstance(store, LocalBlobStore)
    store.put_bytes("a/b/c.txt", b"hello")
    src = tmp_path / "x.bin"
    src.write_bytes(b"\x00" * 10)
    store.put_file("a/x.bin", src)
    assert store.get_bytes("a/b/c.txt") == b"hello" and store.exists("a/x.bin")
    assert sorted(store.list("a")) == ["a/b/c.txt", "a/x.bin"]
    out = store.get_tree("a", tmp_path / "out")
    assert (out / "b" / "c.txt").read_bytes() == b"hello"
    store.delete_prefix("a/b")
    assert list(store.list("a")) == ["a/x.bin"]
    with pytest.raises(StorageError, match="not in the store"):
        store.get_bytes("a/b/c.txt")


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a//b", "a\\b", "", "a/./b"])
def test_hostile_keys_are_refused(tmp_path, key):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(StorageError, match="not a valid storage key"):
        store.put_bytes(key, b"x")


def test_materialize_lays_out_the_class_folders_and_checks_paths(tmp_path):
    store = LocalBlobStore(tmp_path / "store")
    store.put_bytes("s/1.wav", b"one")
    entry = ManifestEntry(key="s/1.wav", path="dog/1.wav", sha256=hashlib.sha256(b"one").hexdigest(), size=3)
    manifest = Manifest.from_json(Manifest([entry]).to_json())
    out = materialize(store, manifest, tmp_path / "job")
    assert (out / "dog" / "1.wav").read_bytes() == b"one"
    bad = Manifest([ManifestEntry(key="s/1.wav", path="../evil.wav", sha256="", size=3)])
    with pytest.raises(StorageError, match="unsafe path"):
        materialize(store, bad, tmp_path / "job2")
    with pytest.raises(StorageError, match="damaged"):
        Manifest.from_json("{}")


def test_unknown_storage_schemes_are_refused():
    with pytest.raises(StorageError, match="unknown storage URL scheme"):
        open_store("ftp://host/x")
