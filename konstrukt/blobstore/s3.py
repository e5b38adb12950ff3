"""S3-compatible object storage (AWS, MinIO, Ceph, Yandex Object Storage, ...) through boto3.

The endpoint and credentials come from the standard AWS variables, which boto3 reads itself:
``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, profiles... A PUT in S3 is atomic (readers see the old object or the whole
new one); big files go up in parts through boto3's transfer manager, which completes the upload
in one step too. Timeouts and retries are short, so an unreachable store fails in seconds.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from ..errors import StorageError, StorageUnavailable
from .base import BlobStore, check_key

INSTALL_HINT = "pip install 'konstrukt[scale]'"
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden",
           "InvalidToken", "ExpiredToken"}
_MISSING_BUCKET = {"NoSuchBucket"}
_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}


def _boto3():
    try:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config
    except ImportError:
        raise StorageError("s3:// storage needs boto3, which is not installed",
                           [f"Fix: {INSTALL_HINT}"]) from None
    return boto3, TransferConfig, Config


class S3BlobStore(BlobStore):
    """Keys live under ``s3://bucket/prefix/``."""

    def __init__(self, bucket: str, prefix: str = "", client=None):
        if not bucket:
            raise StorageError("the storage URL names no bucket", ["Fix: use s3://BUCKET/PREFIX"])
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        boto3, TransferConfig, Config = _boto3()
        env = os.environ  # short by default: an unreachable store fails in seconds, not minutes
        config = Config(connect_timeout=float(env.get("KONSTRUKT_S3_CONNECT_TIMEOUT", "3")),
                        read_timeout=float(env.get("KONSTRUKT_S3_READ_TIMEOUT", "60")),
                        retries={"max_attempts": int(env.get("KONSTRUKT_S3_ATTEMPTS", "3")), "mode": "standard"},
                        max_pool_connections=32)
        self.client = client or boto3.session.Session().client("s3", config=config)
        self.endpoint = self.client.meta.endpoint_url
        # Multipart above 64 MiB: samples are small; run folders may hold big weights.
        self.transfer = TransferConfig(multipart_threshold=64 * 1024**2, multipart_chunksize=16 * 1024**2,
                                       max_concurrency=4)

    @classmethod
    def from_url(cls, url: str) -> "S3BlobStore":
        """``s3://BUCKET`` or ``s3://BUCKET/PREFIX``."""
        if not url.startswith("s3://"):
            raise StorageError(f"not an s3:// URL: {url!r}")
        bucket, _, prefix = url[len("s3://"):].partition("/")
        return cls(bucket, prefix)

    # -- errors ----------------------------------------------------------------------------------

    def _error(self, exc: Exception, key: str | None = None) -> StorageError:
        """A clear StorageError for a boto3/botocore failure (no traceback, names bucket and fix)."""
        from botocore.exceptions import (BotoCoreError, ClientError, EndpointConnectionError,
                                         NoCredentialsError, PartialCredentialsError)

        where = f"bucket {self.bucket!r} at {self.endpoint}"
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return StorageUnavailable(f"no credentials for the object storage ({where})",
                                      ["Fix: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile)."])
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in _MISSING_BUCKET or (key is None and (code in _MISSING_KEY or status == "404")):
                return StorageUnavailable(f"the bucket {self.bucket!r} does not exist at {self.endpoint}",
                                          [f"Fix: create it (e.g. `aws s3 mb s3://{self.bucket}`) or "
                                           "correct --storage-url."])
            if code in _DENIED or status == "403":
                return StorageUnavailable(f"the object storage refused access to {where} ({code or status})",
                                          ["Fix: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the "
                                           "bucket's permissions."])
            if key is not None and (code in _MISSING_KEY or status == "404"):
                return StorageError(f"{key} is not in the store")
            return StorageUnavailable(f"the object storage failed on {where}: {code or status} "
                                      f"{err.get('Message', '')}".rstrip())
        if isinstance(exc, EndpointConnectionError) or isinstance(exc, BotoCoreError):
            return StorageUnavailable(f"cannot reach the object storage for {where} "
                                      f"({type(exc).__name__})",
                                      ["Fix: check that the storage server is running and that "
                                       "AWS_ENDPOINT_URL points at it."])
        return StorageUnavailable(f"the object storage failed on {where} ({type(exc).__name__})")

    def _call(self, fn, *args, key: str | None = None, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, key) from None

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    # -- the interface ---------------------------------------------------------------------------

    def check(self) -> None:
        """Raise StorageUnavailable unless the bucket is reachable with these credentials."""
        self._call(self.client.head_bucket, Bucket=self.bucket)

    def put_file(self, key: str, path: Path) -> None:
        self._call(self.client.upload_file, str(path), self.bucket, self._key(key), Config=self.transfer)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._call(self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data)

    def get_file(self, key: str, dest: Path) -> Path:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".part-{os.getpid()}-{dest.name}")
        try:
            self._call(self.client.download_file, self.bucket, self._key(key), str(tmp),
                       Config=self.transfer, key=key)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def get_bytes(self, key: str) -> bytes:
        response = self._call(self.client.get_object, Bucket=self.bucket, Key=self._key(key), key=key)
        return self._call(response["Body"].read)

    def exists(self, key: str) -> bool:
        try:
            self._call(self.client.head_object, Bucket=self.bucket, Key=self._key(key), key=key)
        except StorageUnavailable:
            raise
        except StorageError:
            return False
        return True

    def list(self, prefix: str) -> Iterator[str]:
        base = self._key(prefix) + "/"
        skip = len(self.prefix) + 1 if self.prefix else 0
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"][skip:]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None

    def delete(self, key: str) -> None:
        self._call(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> None:
        keys = list(self.list(prefix))
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": self._key(k)} for k in keys[start:start + 1000]]
            self._call(self.client.delete_objects, Bucket=self.bucket,
                       Delete={"Objects": batch, "Quiet": True})

    def move(self, src: str, dest: str) -> None:
        """Server-side copy, then delete: no bytes travel through this machine."""
        self._call(self.client.copy_object, Bucket=self.bucket, Key=self._key(dest),
                   CopySource={"Bucket": self.bucket, "Key": self._key(src)}, key=src)
        self.delete(src)
