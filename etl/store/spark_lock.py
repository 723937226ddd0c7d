"""One writer at a time for a Spark warehouse location (docs/spark.md, "Two writers").

Spark's Parquet tables have no transaction, so two writers of one location would
interleave their swaps and partition overwrites. A writer holds the location's
writer lock, `<location>/_writer.lock`, for each writing transaction
(`SparkWarehouse.begin`) and for the recovery a writer runs when it opens.

The lock is one atomic create in the location, holding its owner as JSON (host,
pid, started_at, a token, and what tells whether the owner's pid can be checked
from here):
- a folder (file:// or a plain path): a hard link of a complete temporary file to
  the lock's name, which fails when the name exists (atomic on local file systems
  and NFS; `open(O_EXCL)` where links are not supported);
- s3a:// and s3://: a put with `If-None-Match: *` through boto3, with the S3A
  settings Spark has (`fs.s3a.endpoint`, `fs.s3a.access.key`, ...) or boto3's own
  chain. Hadoop's S3A `create(overwrite=false)` checks, then writes: not atomic;
- any other Hadoop file system (hdfs://, abfss://, gs://, dbfs:/): Hadoop's
  `create(path, overwrite=false)`, which HDFS's NameNode (and ABFS's conditional
  create) refuse when the file exists.

A writer that finds the lock held waits with back-off up to GROUP_ETL_LOCK_TIMEOUT
(saying once that it waits), then fails with WarehouseBusyError (retryable). A lock
left by a process that is gone is handled so:
- its owner ran on this machine (same host name, boot and pid namespace) and its pid
  no longer runs, or the machine has rebooted since: taken over, with a warning;
- otherwise it is never taken over (a run on another machine cannot be seen, and a
  long run is not a dead one): the error names the owner, since when it holds the
  lock, and the file to remove once the operator knows the owner is gone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Set
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any, Protocol

from etl.errors import EtlError, WarehouseBusyError

log = logging.getLogger("group_etl.spark")

LOCK_NAME = "_writer.lock"
# the longest pause between two looks at a held lock (as for a locked DuckDB file)
MAX_PAUSE = 5.0


# -- who holds it -----------------------------------------------------------------

def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii") as file:
            return file.readline().strip()
    except OSError:
        return ""


def _machine() -> dict[str, str]:
    """What makes a pid meaningful here: the host name, this boot (Linux) and the pid
    namespace (a container on the same host has its own pids)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return {"host": socket.gethostname(), "boot": _read_first_line("/proc/sys/kernel/random/boot_id"),
            "pid_namespace": namespace}


def owner_record(token: str) -> dict[str, Any]:
    return {**_machine(), "pid": os.getpid(), "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "token": token}


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def owner_is_gone(owner: dict[str, Any], held_tokens: Set[str] = frozenset()) -> bool:
    """The owner certainly no longer runs: it ran on this machine, and its pid is gone,
    or the machine rebooted since (or it is this process, holding no such lock)."""
    here = _machine()
    if owner.get("host") != here["host"]:
        return False
    if owner.get("boot") and here["boot"] and owner["boot"] != here["boot"]:
        return True  # rebooted since: every process of then is gone
    if owner.get("pid_namespace", "") != here["pid_namespace"] or not isinstance(owner.get("pid"), int):
        return False
    if owner["pid"] == os.getpid():
        return owner.get("token") not in held_tokens
    return not _pid_runs(owner["pid"])


def describe(owner: dict[str, Any] | None) -> str:
    if owner is None:
        return "owner unknown: the lock is being created, or is not group-etl's"
    return f"pid {owner.get('pid')} on {owner.get('host')}, since {owner.get('started_at')}"


# -- where it is kept ---------------------------------------------------------------

class LockStore(Protocol):
    """One lock file or object: created only when absent, read, removed."""

    where: str

    def create(self, body: bytes) -> bool:
        """Create it holding `body`; False when it exists."""

    def read(self) -> bytes | None:
        """Its content; None when it does not exist."""

    def delete(self) -> None:
        """Remove it (nothing when it does not exist)."""


class FolderStore:
    """The lock as a file in a folder (a local or network file system)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.where = path

    def create(self, body: bytes) -> bool:
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        fd, staged = tempfile.mkstemp(prefix=".writer-lock-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(body)
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(staged, self.path)  # the name appears with its whole content, or not at all
                return True
            except FileExistsError:
                return False
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
            return self._create_exclusive(body)  # a file system without hard links
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staged)

    def _create_exclusive(self, body: bytes) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as file:
            file.write(body)
        return True

    def read(self) -> bytes | None:
        try:
            with open(self.path, "rb") as file:
                return file.read()
        except FileNotFoundError:
            return None

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class S3Store:
    """The lock as an S3 object, created by a conditional put (`If-None-Match: *`)."""

    def __init__(self, url: str, setting: Callable[[str], str | None] = lambda _name: None) -> None:
        _, _, rest = url.partition("://")
        self.bucket, _, self.key = rest.partition("/")
        self.where = url
        self.client = s3_client(self.bucket, setting)

    def create(self, body: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body, IfNoneMatch="*")
        except ClientError as error:
            # 412: it exists; 409: another conditional put of it is under way
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict") \
                    or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (409, 412):
                return False
            raise
        return True

    def read(self) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def delete(self) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key)


def s3_client(bucket: str, setting: Callable[[str], str | None]) -> Any:  # noqa: ANN401 - boto3's client
    """boto3's S3 client for `bucket` with the S3A settings Spark reads (a bucket's own
    `fs.s3a.bucket.<bucket>.<name>` first), else boto3's chain (AWS_* variables, roles)."""
    import boto3
    from botocore.config import Config

    def s3a(name: str) -> str | None:
        return setting(f"fs.s3a.bucket.{bucket}.{name}") or setting(f"fs.s3a.{name}") or None

    options: dict[str, Any] = {}
    endpoint = s3a("endpoint")
    if endpoint:
        if "://" not in endpoint:
            secure = (s3a("connection.ssl.enabled") or "true").lower() != "false"
            endpoint = ("https://" if secure else "http://") + endpoint
        options["endpoint_url"] = endpoint
    if s3a("access.key") and s3a("secret.key"):
        options.update(aws_access_key_id=s3a("access.key"), aws_secret_access_key=s3a("secret.key"),
                       aws_session_token=s3a("session.token"))
    region = s3a("endpoint.region")
    if region:
        options["region_name"] = region
    path_style = (s3a("path.style.access") or "").lower() == "true"
    config = Config(retries={"mode": "standard", "total_max_attempts": 5},
                    s3={"addressing_style": "path" if path_style else "auto"})
    return boto3.client("s3", config=config, **options)


class HadoopStore:
    """The lock as a file of a Hadoop file system, made by `create(path, overwrite=false)`."""

    def __init__(self, spark: Any, path: str) -> None:  # noqa: ANN401 - a SparkSession
        self.jvm = spark.sparkContext._jvm
        self.path = self.jvm.org.apache.hadoop.fs.Path(path)
        self.fs = self.path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self.where = path

    def create(self, body: bytes) -> bool:
        from py4j.protocol import Py4JJavaError

        try:
            stream = self.fs.create(self.path, False)
        except Py4JJavaError as error:
            if self.fs.exists(self.path) or "FileAlreadyExists" in str(error.java_exception):
                return False
            raise
        try:
            stream.write(bytearray(body))
        finally:
            stream.close()
        return True

    def read(self) -> bytes | None:
        from py4j.protocol import Py4JJavaError

        try:
            stream = self.fs.open(self.path)
        except Py4JJavaError as error:
            if "FileNotFoundException" in str(error.java_exception) or not self.fs.exists(self.path):
                return None
            raise
        try:
            return bytes(self.jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def delete(self) -> None:
        self.fs.delete(self.path, False)


def store_for(location: str, spark: Any = None) -> LockStore:  # noqa: ANN401 - a SparkSession
    """The lock of a warehouse location (a folder, a file: URL, s3a:// or s3://, or any
    other URL Hadoop reads with `spark`)."""
    path = location.rstrip("/") + "/" + LOCK_NAME
    if "://" not in path or path.startswith("file:"):
        return FolderStore(path.removeprefix("file://").removeprefix("file:"))
    if path.startswith(("s3a://", "s3://", "s3n://")):
        conf = spark.sparkContext._jsc.hadoopConfiguration() if spark is not None else None
        return S3Store(path, conf.get if conf is not None else lambda _name: None)
    if spark is None:
        raise EtlError(f"the writer lock of {location} needs a Spark session (Hadoop's file system)")
    return HadoopStore(spark, path)


# -- taking it ------------------------------------------------------------------------

class WriterLock:
    """The writer lock of one warehouse location: `acquire`, then `release`."""

    def __init__(self, store: LockStore, location: str) -> None:
        self.store = store
        self.location = location
        self.token: str | None = None

    def owner(self) -> tuple[bool, dict[str, Any] | None]:
        """(whether it exists, its owner when readable)."""
        body = self.store.read()
        if body is None:
            return False, None
        try:
            found = json.loads(body)
        except ValueError:
            return True, None
        return True, found if isinstance(found, dict) else None

    def acquire(self, timeout: float) -> None:
        """Create the lock; while another writer holds it, wait with back-off up to
        `timeout` seconds (saying so once), then raise WarehouseBusyError. A lock whose
        owner is gone (`owner_is_gone`) is taken over, with a warning."""
        token = uuid.uuid4().hex
        body = json.dumps(owner_record(token), sort_keys=True).encode()
        deadline = time.monotonic() + timeout
        pause, waiting = 0.05, False
        while True:
            if self.store.create(body):
                self.token = token
                return
            exists, owner = self.owner()
            if not exists:
                continue  # released between our create and our look: try again at once
            if owner is not None and owner_is_gone(owner, _tokens_held()) and self._take_over(owner):
                continue
            if not waiting and timeout > 0:  # said as soon as it is held, however slow the look was
                log.warning("Spark warehouse %s is being written by another process (%s): waiting up to %gs "
                            "for it (GROUP_ETL_LOCK_TIMEOUT)", self.location, describe(owner), timeout)
                waiting = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WarehouseBusyError(
                    f"Spark warehouse {self.location} is being written by another process ({describe(owner)}; "
                    f"waited {timeout:g}s (GROUP_ETL_LOCK_TIMEOUT)): try again when it finishes. If that process "
                    f"is gone, remove {self.store.where}")
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, MAX_PAUSE)

    def _take_over(self, owner: dict[str, Any]) -> bool:
        """Remove a lock whose owner is gone, when it is still that owner's. Only writers on
        the owner's machine take it over, so a file lock of this machine makes the look
        and the removal one step among them."""
        with _machine_lock(self.store.where):
            _, now = self.owner()
            if now is None or now.get("token") != owner.get("token"):
                return False
            self.store.delete()
        log.warning("Spark warehouse %s: the writer lock of %s outlived its process: taken over (%s)",
                    self.location, describe(owner), self.store.where)
        return True

    def release(self) -> None:
        """Remove the lock if it is still this writer's."""
        if self.token is None:
            return
        token, self.token = self.token, None
        _, owner = self.owner()
        if owner is None or owner.get("token") != token:
            log.warning("Spark warehouse %s: the writer lock was no longer this process's at release (%s)",
                        self.location, self.store.where)
            return
        self.store.delete()


@contextlib.contextmanager
def _machine_lock(where: str) -> Iterator[None]:
    """An exclusive lock among this machine's processes, for one lock location."""
    import fcntl

    name = blake2b(where.encode(), digest_size=8).hexdigest()
    path = os.path.join(tempfile.gettempdir(), f"group-etl-takeover-{name}.lock")
    with open(path, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


# -- held by a process: what SparkWarehouse calls --------------------------------------

_HELD: dict[str, tuple[WriterLock, int]] = {}  # location -> (the lock, how many hold it)
_GUARD = threading.Lock()


def _tokens_held() -> set[str]:
    return {lock.token for lock, _ in _HELD.values() if lock.token}


@contextlib.contextmanager
def held(location: str, timeout: float, spark: Any = None) -> Iterator[None]:  # noqa: ANN401 - a SparkSession
    """The writer lock of `location` for the block. Within one process it is shared: a
    transaction opened inside another one (or by a second SparkWarehouse of the same
    location) holds it too, and the last one out releases it."""
    with _GUARD:
        lock, count = _HELD.get(location, (None, 0))
        if lock is None:
            lock = WriterLock(store_for(location, spark), location)
            lock.acquire(timeout)
        _HELD[location] = (lock, count + 1)
    try:
        yield
    finally:
        with _GUARD:
            lock, count = _HELD[location]
            if count > 1:
                _HELD[location] = (lock, count - 1)
            else:
                del _HELD[location]
                lock.release()
