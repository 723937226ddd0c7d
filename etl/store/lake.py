"""Object storage: a local folder or an S3-compatible bucket behind one interface.

Callers list a prefix, stream an object's (decompressed) bytes, and write
objects; none of them cares which store is behind it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from isal import isal_zlib as zlib  # zlib's interface, about 2.5x faster inflate (ISA-L)

from etl.errors import StorageError

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class LakeObject:
    key: str
    size: int
    etag: str


class Lake(Protocol):
    url: str

    def list(self, prefix: str) -> list[LakeObject]: ...

    def exists(self) -> bool:
        """False for a local lake whose folder is missing (listing it is an error)."""
        ...

    def iter_bytes(self, key: str) -> Iterator[bytes]: ...

    def write(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None:
        """Delete exactly this object (no other key that starts like it)."""
        ...

    def delete_prefix(self, prefix: str) -> None: ...


# The lake's input prefixes, one a kind of dump (docs/lake.md); each is a stage of a day
# (etl.run.day.STAGES, tested to match) and of load_audit.
INPUT_PREFIXES = ("events", "groups", "people")


def open_lake(url: str) -> Lake:
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://"):].partition("/")
        return S3Lake(bucket, prefix.strip("/"))
    path = url[len("file://"):] if url.startswith("file://") else url
    return LocalLake(Path(path))


def partition_prefix(kind: str, day: str) -> str:
    """`events/dt=2024-01-01/` and the like: docs/lake.md."""
    return f"{kind}/dt={day}/"


def input_fingerprint(objects: list[LakeObject]) -> str:
    """What identifies a partition's input: object keys, sizes and ETags. Here, not
    with the parse: `group-etl status` compares it without importing Arrow (issue 21)."""
    digest = hashlib.sha256()
    for obj in objects:
        digest.update(f"{obj.key}\t{obj.size}\t{obj.etag}\n".encode())
    return digest.hexdigest()


class LocalLake:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if path != self.root and self.root not in path.parents:
            raise StorageError(f"refusing a key outside the lake: {key!r}")
        return path

    def list(self, prefix: str) -> list[LakeObject]:
        if not self.root.is_dir():
            # never read as "no objects": an empty listing would replace loaded days with nothing
            raise StorageError(f"lake {self.url} does not exist (a mistyped GROUP_ETL_LAKE_URL, "
                               "or a volume not mounted)")
        base = self._path(prefix)
        folder = base if prefix.endswith("/") or base.is_dir() else base.parent
        if not folder.is_dir():
            return []
        found = []
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if not _is_utf8(key):  # the name could not be stored (source_object) nor shown
                    shown = os.fsencode(key).decode("utf-8", "backslashreplace")
                    raise StorageError(f"lake object name is not UTF-8: {shown} (rename it)")
                if not key.startswith(prefix):
                    continue
                info = path.stat()
                found.append(LakeObject(key, info.st_size, f"{info.st_mtime_ns:x}-{info.st_size:x}"))
        return sorted(found, key=lambda o: o.key)

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        try:
            with open(self._path(key), "rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk
        except FileNotFoundError:
            raise StorageError(f"{key}: object vanished between listing and reading") from None

    def exists(self) -> bool:
        return self.root.is_dir()

    def write(self, key: str, data: bytes) -> None:
        """Write through `<name>.tmp` and rename, never following a symbolic link: each
        folder is opened relative to the last with O_NOFOLLOW, the temporary file is
        created with O_EXCL, so a link placed anywhere on the way cannot redirect it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._folder(key, create=True) as (folder, name):
            self._refuse_link(key, name, folder)
            write_new_file(folder, name + ".tmp", data, key)
            os.replace(name + ".tmp", name, src_dir_fd=folder, dst_dir_fd=folder)

    @contextlib.contextmanager
    def _folder(self, key: str, *, create: bool) -> Iterator[tuple[int, str]]:
        """(open folder of the key, its last segment), reached one folder at a time."""
        *folders, name = self._segments(key)
        fds = [os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)]
        try:
            for folder in folders:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(folder, 0o777, dir_fd=fds[-1])
                fds.append(self._open_folder(key, folder, fds[-1]))
            yield fds[-1], name
        finally:
            for fd in fds:
                os.close(fd)

    def _segments(self, key: str) -> Sequence[str]:  # (`list` is a method's name here)
        parts = key.split("/")
        if key.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise StorageError(f"refusing a key outside the lake: {key!r}")
        return parts

    @staticmethod
    def _open_folder(key: str, folder: str, parent: int) -> int:
        try:
            return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        except FileNotFoundError:
            raise
        except OSError as error:  # ELOOP: a symbolic link; ENOTDIR: a file
            raise StorageError(f"refusing to write {key!r}: {folder!r} is not a folder of the lake "
                               f"(a symbolic link or a file): {error.strerror}") from None

    @staticmethod
    def _refuse_link(key: str, name: str, folder: int) -> None:
        for candidate in (name, name + ".tmp"):
            try:
                is_link = stat.S_ISLNK(os.lstat(candidate, dir_fd=folder).st_mode)
            except FileNotFoundError:
                continue
            if is_link:
                raise StorageError(f"refusing to write {key!r}: {candidate!r} is a symbolic link")

    def delete(self, key: str) -> None:
        """The object itself: a link is removed, never the file it points to."""
        with contextlib.suppress(FileNotFoundError), self._folder(key, create=False) as (folder, name):
            os.unlink(name, dir_fd=folder)

    def delete_prefix(self, prefix: str) -> None:
        for obj in self.list(prefix):
            self.delete(obj.key)


def write_new_file(folder: int, name: str, data: bytes, what: str) -> None:
    """Create `name` in the open folder and write `data`: a stale file of that name is
    removed first (a link is removed, not followed), then O_EXCL | O_NOFOLLOW makes
    sure the file written is the one just created."""
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=folder)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=folder)
    except OSError as error:
        raise StorageError(f"refusing to write {what!r}: cannot create {name!r}: {error.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _is_utf8(name: str) -> bool:
    """False for a file name whose bytes are not UTF-8 (Python keeps them as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class S3Lake:
    """boto3 with its standard credential chain; AWS_ENDPOINT_URL picks the store.

    botocore's "standard" retry mode retries 5xx and throttling with
    exponential back-off; what still fails becomes a StorageError.
    """

    def __init__(self, bucket: str, prefix: str) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.url = f"s3://{bucket}/{prefix}".rstrip("/")
        self.client = boto3.client(
            "s3", config=Config(retries={"mode": "standard", "total_max_attempts": 5})
        )

    def _fail(self, what: str, error: Exception) -> StorageError:
        return StorageError(f"{self.url}: {what} failed: {type(error).__name__}: {error}")

    def list(self, prefix: str) -> list[LakeObject]:
        from botocore.exceptions import BotoCoreError, ClientError

        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix):]
                    found.append(LakeObject(key, item["Size"], item["ETag"].strip('"')))
        except (BotoCoreError, ClientError) as error:
            raise self._fail(f"listing {prefix}", error) from None
        return sorted(found, key=lambda o: o.key)

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
            yield from body.iter_chunks(CHUNK)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise StorageError(f"{key}: object vanished between listing and reading") from None
            raise self._fail(f"reading {key}", error) from None
        except BotoCoreError as error:
            raise self._fail(f"reading {key}", error) from None

    def exists(self) -> bool:
        return True  # a missing bucket or prefix is the listing's error or an empty day's

    def write(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except (BotoCoreError, ClientError) as error:
            raise self._fail(f"writing {key}", error) from None

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (BotoCoreError, ClientError) as error:
            raise self._fail(f"deleting {key}", error) from None

    def delete_prefix(self, prefix: str) -> None:
        for obj in self.list(prefix):
            self.delete(obj.key)


def replace_partition(lake: Lake, prefix: str, key: str, data: bytes) -> None:
    """Make `key` the only object under `prefix`: write it (atomically), then delete the
    others, each by its exact name, so a neighbour whose name starts like `key`
    (`part-0000` beside `part-0000.jsonl`) never takes the fresh object with it."""
    lake.write(key, data)
    for obj in lake.list(prefix):
        if obj.key != key:
            lake.delete(obj.key)


# Of bytes after the last gzip member that start no member, at most this much is kept
# (for the reject's raw; the rest only counted): the longest line a loader holds.
TRAILING_KEEP = 16 * 1024 * 1024
_FEXTRA, _FNAME, _FCOMMENT, _FHCRC = 4, 8, 16, 2


@dataclass
class DecodeState:
    """Set while reading a gzip object: what went wrong, so the loader keeps the good
    lines and records the rest. `truncated`: the stream was cut off or its deflate data
    is corrupt (the last line's tail is lost). `failed_checks`: members whose content
    decoded in full but whose CRC-32 or length check failed. `trailing`: the first bytes
    (up to TRAILING_KEEP) after the last member that start no gzip member, and
    `trailing_size` all of them."""

    truncated: bool = False
    failed_checks: int = 0
    trailing: bytes = b""
    trailing_size: int = 0


def iter_decompressed(lake: Lake, obj: LakeObject, state: DecodeState | None = None) -> Iterator[bytes]:
    """Yield the object's content, un-gzipped when its magic bytes (1f 8b) say gzip,
    whatever its name: a plain-text object named `.gz` is read as plain text.

    A gzip is read member by member (concatenated members are one stream; zero
    bytes between or after members are padding, as gzip and Python skip them).
    Its header and trailer are read here and the deflate data inflated raw, so a
    failed CRC check loses none of the decoded content; what went wrong is set
    in `state` (see DecodeState).
    """
    state = DecodeState() if state is None else state
    raw = lake.iter_bytes(obj.key)
    source = _Source(next(raw, b""), raw)
    source.fill(len(GZIP_MAGIC))  # a stream may hand out a first chunk shorter than the magic bytes
    if not source.buffer.startswith(GZIP_MAGIC):
        if source.buffer:
            yield source.buffer
        yield from raw
        return
    while source.skip_zeros():
        header = _header_size(source)
        if header is None:
            state.trailing, state.trailing_size = source.rest(TRAILING_KEEP)
            return
        if header:
            source.take(header)
        if not header or not (yield from _inflate_member(source, state)):
            state.truncated = True  # cut off inside a header or the deflate data, or corrupt
            return


class _Source:
    """The object's bytes as a buffer that is filled from the stream on demand."""

    def __init__(self, first: bytes, raw: Iterator[bytes]) -> None:
        self.buffer, self._raw = first, raw

    def fill(self, size: int) -> bool:
        """Read until at least `size` bytes are buffered; False if the stream ends first."""
        while len(self.buffer) < size:
            more = next(self._raw, None)
            if more is None:
                return False
            self.buffer += more
        return True

    def take(self, size: int | None = None) -> bytes:
        """`size` buffered bytes (all of them if None, or the next chunk when none is)."""
        if size is None and not self.buffer:
            return next(self._raw, b"")
        size = len(self.buffer) if size is None else size
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def skip_zeros(self) -> bool:
        """Skip zero bytes (padding); True if a byte other than zero follows."""
        while self.fill(1):
            self.buffer = self.buffer.lstrip(b"\x00")
            if self.buffer:
                return True
        return False

    def rest(self, keep: int) -> tuple[bytes, int]:
        """The first `keep` bytes of what is left, and how many are left."""
        kept = self.take()
        size = len(kept)
        for more in self._raw:
            size += len(more)
            if len(kept) < keep:
                kept += more[:keep - len(kept)]
        return kept[:keep], size


def _header_size(source: _Source) -> int | None:
    """The length of the gzip member header at the start of the buffer (RFC 1952): None
    when the bytes there start no member, 0 when the stream ends inside the header."""
    if not source.fill(10):
        return 0 if source.buffer.startswith(GZIP_MAGIC) else None
    if not source.buffer.startswith(GZIP_MAGIC + b"\x08"):
        return None
    flags, size = source.buffer[3], 10
    if flags & 0xE0:  # reserved bits
        return None
    if flags & _FEXTRA:
        if not source.fill(size + 2):
            return 0
        size += 2 + int.from_bytes(source.buffer[size:size + 2], "little")
    for flag in (_FNAME, _FCOMMENT):  # zero-terminated strings
        if flags & flag:
            while (end := source.buffer.find(b"\x00", size)) < 0:
                if not source.fill(len(source.buffer) + 1):
                    return 0
            size = end + 1
    size += 2 if flags & _FHCRC else 0
    return size if source.fill(size) else 0


def _inflate_member(source: _Source, state: DecodeState) -> Generator[bytes, None, bool]:
    """Inflate one member's deflate data (the header already taken) and check its
    trailer; returns False when the stream ends or the data is corrupt before its end."""
    inflater = zlib.decompressobj(wbits=-15)  # raw deflate: the checks are ours
    crc, length = 0, 0
    try:
        while not inflater.eof:
            data = source.take()
            if not data:  # the stream ended: what the inflater still holds, then stop
                while not inflater.eof and (out := inflater.decompress(b"", CHUNK)):
                    crc, length = zlib.crc32(out, crc), length + len(out)
                    yield out
                if not inflater.eof:
                    return False
                break
            while data:
                # at most CHUNK out per call: a small gzip may inflate to gigabytes
                out = inflater.decompress(data, CHUNK)
                if out:
                    crc, length = zlib.crc32(out, crc), length + len(out)
                    yield out
                data = b"" if inflater.eof else inflater.unconsumed_tail
        source.buffer = inflater.unused_data + source.buffer
    except zlib.error:  # type: ignore[misc]  # isal's stub declares `error` an instance, not a class
        return False
    if not source.fill(8):
        return False
    trailer = source.take(8)
    if (int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:], "little")) != (crc, length & 0xFFFFFFFF):
        state.failed_checks += 1
    return True
