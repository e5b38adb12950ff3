"""Where files live: the blob store seam.

Samples, job manifests, run folders and the embedding cache are addressed by *keys* — relative
POSIX paths such as ``projects/3/samples/7/12.wav`` — in a :class:`BlobStore`. The default is a
local folder (:class:`~konstrukt.blobstore.local.LocalBlobStore`, today's data directory layout);
``s3://BUCKET/PREFIX`` selects S3-compatible object storage, configured by the standard AWS
variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), so MinIO, Ceph or AWS all work.
"""
from __future__ import annotations

from pathlib import Path

from .base import BlobStore, check_key
from .local import LocalBlobStore
from .manifest import Manifest, ManifestEntry, materialize

__all__ = ["BlobStore", "LocalBlobStore", "Manifest", "ManifestEntry", "check_key", "materialize",
           "open_store"]


def open_store(url: str | Path) -> BlobStore:
    """The blob store named by ``url``: a local path or ``file://`` URL, or ``s3://BUCKET/PREFIX``."""
    text = str(url)
    if text.startswith("s3://"):
        from .s3 import S3BlobStore  # boto3 is only needed for S3

        return S3BlobStore.from_url(text)
    if text.startswith("file://"):
        text = text[len("file://"):]
    elif "://" in text:
        from ..errors import StorageError

        raise StorageError(f"unknown storage URL scheme in {text.split('://')[0]!r}: "
                           "use a local folder or s3://BUCKET/PREFIX")
    return LocalBlobStore(Path(text))
