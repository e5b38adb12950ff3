"""The S3 blob store against a real S3-compatible server, held to the same contract as the local one."""
from __future__ import annotations

import hashlib
import time

import pytest

from konstrukt.blobstore import LocalBlobStore, Manifest, ManifestEntry, materialize, open_store
from konstrukt.errors import StorageError, StorageUnavailable

pytestmark = pytest.mark.scale


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return open_store(tmp_path / "store")
    return open_store(request.getfixturevalue("s3_url"))


def test_store_round_trips_files_and_trees(store, tmp_path):
    store.check()
    store.put_bytes("a/b/c.txt", b"hello")
    src = tmp_path / "x.bin"
    src.write_bytes(b"\x00" * 10)
    store.put_file("a/x.bin", src)
    store.put_bytes("ab/other.txt", b"not under a/")
    assert store.get_bytes("a/b/c.txt") == b"hello" and store.exists("a/x.bin")
    assert not store.exists("a/nothing.txt")
    assert sorted(store.list("a")) == ["a/b/c.txt", "a/x.bin"]
    out = store.get_tree("a", tmp_path / "out")
    assert (out / "b" / "c.txt").read_bytes() == b"hello" and (out / "x.bin").stat().st_size == 10
    store.move("a/x.bin", "m/y.bin")
    assert not store.exists("a/x.bin") and store.get_bytes("m/y.bin") == b"\x00" * 10
    store.delete_prefix("a/b")
    assert list(store.list("a")) == []
    assert store.get_bytes("ab/other.txt") == b"not under a/"
    store.delete("ab/other.txt")
    with pytest.raises(StorageError, match="not in the store"):
        store.get_bytes("a/b/c.txt")
    with pytest.raises(StorageError, match="not in the store"):
        store.get_file("a/b/c.txt", tmp_path / "none")


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a//b", "a\\b", ""])
def test_hostile_keys_are_refused(store, key):
    with pytest.raises(StorageError, match="not a valid storage key"):
        store.put_bytes(key, b"x")


def test_listing_pages_and_batched_delete(s3_url):
    """More keys than one list page (1000) and one DeleteObjects call (1000) hold."""
    store = open_store(s3_url)
    keys = [f"many/{i:04d}.txt" for i in range(1105)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: store.put_bytes(k, b"x"), keys))
    assert sorted(store.list("many")) == keys
    store.delete_prefix("many")
    assert list(store.list("many")) == []


def test_big_files_go_up_in_parts(s3_url, tmp_path):
    store = open_store(s3_url)
    from boto3.s3.transfer import TransferConfig

    store.transfer = TransferConfig(multipart_threshold=5 * 1024**2, multipart_chunksize=5 * 1024**2)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (12 * 1024**2 // 256))
    store.put_file("runs/model.safetensors", big)
    head = store.client.head_object(Bucket=store.bucket, Key=store._key("runs/model.safetensors"))
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    back = store.get_file("runs/model.safetensors", tmp_path / "back.bin")
    assert back.read_bytes() == big.read_bytes()


def test_materialize_from_s3_checks_every_hash(s3_url, tmp_path):
    store = open_store(s3_url)
    store.put_bytes("s/1.wav", b"one")
    store.put_bytes("s/2.wav", b"two")
    good = [ManifestEntry("s/1.wav", "dog/1.wav", hashlib.sha256(b"one").hexdigest(), 3),
            ManifestEntry("s/2.wav", "cat/2.wav", hashlib.sha256(b"two").hexdigest(), 3)]
    out = materialize(store, Manifest.from_json(Manifest(good).to_json()), tmp_path / "job")
    assert (out / "dog" / "1.wav").read_bytes() == b"one" and (out / "cat" / "2.wav").read_bytes() == b"two"
    store.put_bytes("s/2.wav", b"tampered")
    with pytest.raises(StorageError, match="cat/2.wav changed in the store"):
        materialize(store, Manifest(good), tmp_path / "job2")
    assert not (tmp_path / "job2" / "cat" / "2.wav").exists()
    store.delete("s/1.wav")
    with pytest.raises(StorageError, match="dog/1.wav is missing from the store"):
        materialize(store, Manifest(good), tmp_path / "job3")


def test_unreachable_store_fails_fast_with_a_clear_message(s3_env, dead_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead_endpoint)
    store = open_store("s3://some-bucket/x")
    start = time.monotonic()
    with pytest.raises(StorageUnavailable) as info:
        store.put_bytes("a.txt", b"x")
    assert time.monotonic() - start < 10
    text = str(info.value) + " ".join(info.value.problems)
    assert "cannot reach the object storage" in text and "'some-bucket'" in text and "AWS_ENDPOINT_URL" in text


def test_missing_bucket_is_named_with_the_fix(s3_env, bucket):
    with pytest.raises(StorageUnavailable, match="bucket 'no-such-bucket-x' does not exist"):
        open_store("s3://no-such-bucket-x/p").check()
    with pytest.raises(StorageUnavailable, match="does not exist"):
        open_store("s3://no-such-bucket-x/p").put_bytes("a.txt", b"x")


def test_missing_boto3_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(StorageError) as info:
        open_store("s3://b/p")
    assert "pip install 'konstrukt[scale]'" in " ".join(info.value.problems)


def test_local_store_is_the_default_layout(tmp_path):
    assert isinstance(open_store(tmp_path), LocalBlobStore)


def test_embedding_cache_hits_cross_workers_through_the_store(s3_url, tmp_path, monkeypatch):
    """Two workers with their own local cache folders share embeddings through the store."""
    import numpy as np

    from konstrukt.embeddings import EmbeddingCache

    monkeypatch.setenv("KONSTRUKT_EMBEDDINGS_STORE", s3_url + "/cache")
    first = EmbeddingCache(tmp_path / "worker1", "resnet18|imagenet|224")
    value = np.arange(8, dtype=np.float32)
    first.put("ab" * 32, 0, value)
    second = EmbeddingCache(tmp_path / "worker2", "resnet18|imagenet|224")
    assert np.array_equal(second.get("ab" * 32, 0), value) and second.remote_hits == 1
    assert np.array_equal(second.get("ab" * 32, 0), value) and second.remote_hits == 1  # now local
    assert second.get("cd" * 32, 0) is None
    other = EmbeddingCache(tmp_path / "worker3", "another backbone")
    assert other.get("ab" * 32, 0) is None  # keyed by backbone / weights / preprocessing too


def test_embedding_cache_goes_on_without_an_unreachable_store(s3_env, dead_endpoint, tmp_path, monkeypatch):
    import numpy as np

    from konstrukt.embeddings import EmbeddingCache

    monkeypatch.setenv("AWS_ENDPOINT_URL", dead_endpoint)
    monkeypatch.setenv("KONSTRUKT_S3_ATTEMPTS", "1")
    cache = EmbeddingCache(tmp_path, "k", store=open_store("s3://gone/x"))
    assert cache.get("ab" * 32, 0) is None and cache.store is None  # gave up on the store at once
    cache.put("ab" * 32, 0, np.ones(3))
    assert cache.get("ab" * 32, 0) is not None
