"""Repositories in S3: a real MinIO server on 127.0.0.1, started for these
tests on free ports with a temporary data folder, stopped afterwards.

MinIO is the binary the foundation's `make tools` installs ($MINIO_BIN, or
minio in `go env GOPATH`/bin, or on $PATH). Without it these tests are
skipped, unless ICECHUNK_GO_REQUIRE_S3=1 (as `make test` sets), which makes
its absence a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import icechunk_go as ic

pytestmark = pytest.mark.slow

ACCESS_KEY = "icechunk-go"
SECRET_KEY = "icechunk-go-secret"
REGION = "us-east-1"


def _minio_binary() -> str | None:
    if os.environ.get("MINIO_BIN"):
        return os.environ["MINIO_BIN"]
    found = shutil.which("minio")
    if found:
        return found
    try:
        gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    p = Path(gopath.split(os.pathsep)[0]) / "bin" / "minio"
    return str(p) if p.is_file() else None


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Minio:
    endpoint: str
    bucket: str

    def storage(self, prefix: str) -> ic.Storage:
        return ic.s3_storage(
            bucket=self.bucket,
            prefix=prefix,
            region=REGION,
            endpoint_url=self.endpoint,
            allow_http=True,
            force_path_style=True,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
        )

    def get_requests(self) -> int:
        """How many GetObject requests the server has answered so far."""
        return self.requests("GetObject")

    def requests(self, api: str) -> int:
        """How many requests of one API (MinIO's name for it) the server has
        answered so far. The server counts a request just after answering
        it, so the count is read until it holds still for 50 ms."""
        pattern = re.compile(r'^minio_api_requests_total\{name="' + re.escape(api) + r'"[^}]*\} ([0-9.e+]+)$')

        def count() -> int:
            with urllib.request.urlopen(self.endpoint + "/minio/metrics/v3/api/requests", timeout=5) as r:
                text = r.read().decode()
            return int(sum(float(m.group(1)) for line in text.splitlines() if (m := pattern.match(line))))

        last = count()
        for _ in range(40):
            time.sleep(0.05)
            now = count()
            if now == last:
                return now
            last = now
        return last

    def client(self) -> Any:
        """A boto3 client of the server, to look at objects directly."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )


@pytest.fixture(scope="module")
def minio() -> Iterator[Minio]:
    binary = _minio_binary()
    if binary is None:
        if os.environ.get("ICECHUNK_GO_REQUIRE_S3") == "1":
            pytest.fail("MinIO not found: run `make tools` or set MINIO_BIN")
        pytest.skip("MinIO not found: run `make tools` or set MINIO_BIN")
    pytest.importorskip("boto3")
    workdir = Path(tempfile.mkdtemp(prefix="icechunk-go-minio-"))
    (workdir / "data").mkdir()
    api, console = _free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIO_")}
    env.update(
        MINIO_ROOT_USER=ACCESS_KEY,
        MINIO_ROOT_PASSWORD=SECRET_KEY,
        MINIO_REGION=REGION,
        MINIO_BROWSER="off",
        MINIO_UPDATE="off",
        MINIO_CI_CD="on",
        MINIO_PROMETHEUS_AUTH_TYPE="public",  # request counts, read by Minio.get_requests
    )
    log = open(workdir / "minio.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            binary,
            "server",
            "--address",
            f"127.0.0.1:{api}",
            "--console-address",
            f"127.0.0.1:{console}",
            "--quiet",
            str(workdir / "data"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{api}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"minio exited: {(workdir / 'minio.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{endpoint}/minio/health/live", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("minio did not start within 60 s")
            time.sleep(0.1)
        server = Minio(endpoint=endpoint, bucket="icechunk-go")
        s3 = server.client()
        while True:
            try:
                s3.create_bucket(Bucket="icechunk-go")
                break
            except Exception as e:  # the server may still be initializing
                if time.monotonic() > deadline:
                    raise
                if "BucketAlreadyOwnedByYou" in str(e):
                    break
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_s3_repository_roundtrip(minio: Minio) -> None:
    storage = minio.storage("repos/roundtrip")
    assert storage.describe().startswith("s3://icechunk-go/repos/roundtrip")
    assert SECRET_KEY not in repr(storage)
    assert not ic.Repository.exists(storage)
    repo = ic.Repository.create(storage)
    s = repo.writable_session("main")
    root = zarr.open_group(s.store, mode="w", attributes={"where": "s3"})
    arr = root.create_array("a", shape=(20, 20), chunks=(5, 5), dtype="f4", fill_value=0)
    arr[:] = np.arange(400, dtype="f4").reshape(20, 20)
    first = s.commit("to s3")
    repo.create_tag("v1", first)
    repo.create_tag("v1.0+build 5 (données)", first)  # a name as people write them

    s = repo.writable_session("main")
    zarr.open_array(s.store, path="a", mode="a")[0:5, 0:5] = -1
    s.commit("edit")

    again = ic.Repository.open(minio.storage("repos/roundtrip"))
    assert [h.message for h in again.ancestry(branch="main")] == ["edit", "to s3", "Repository initialized"]
    cur = zarr.open_array(again.readonly_session(branch="main").store, path="a", mode="r")[:]
    old = zarr.open_array(again.readonly_session(tag="v1").store, path="a", mode="r")[:]
    assert (cur[0:5, 0:5] == -1).all() and (cur[5:] == old[5:]).all()
    np.testing.assert_array_equal(old, np.arange(400, dtype="f4").reshape(20, 20))
    assert zarr.open_group(again.readonly_session(branch="main").store, mode="r").attrs["where"] == "s3"
    assert again.list_tags() == {"v1", "v1.0+build 5 (données)"}
    assert again.lookup_tag("v1.0+build 5 (données)") == first


def test_s3_write_behind_packs_chunks(minio: Minio) -> None:
    """Large chunks are written behind, packed into objects of a few MiB
    (the benchmark counts the PUTs); every chunk reads back before the
    commit, and from a new repository handle after it."""
    storage = minio.storage("repos/write-behind")
    repo = ic.Repository.create(storage)
    s = repo.writable_session("main")
    arr = zarr.create_array(s.store, name="a", shape=(64 * 65536,), chunks=(65536,), dtype="i4", compressors=None)
    want = np.arange(64 * 65536, dtype="i4")
    arr[:] = want
    np.testing.assert_array_equal(arr[:], want)
    s.commit("64 chunks of 256 KiB")
    again = ic.Repository.open(minio.storage("repos/write-behind"))
    np.testing.assert_array_equal(zarr.open_array(again.readonly_session(branch="main").store, path="a", mode="r")[:], want)


def test_s3_repack_frees_rewritten_space(minio: Minio) -> None:
    """48 chunks written behind fill four 3 MiB objects; rewriting three in
    four leaves each partly unused. A repack moves the rest out, and
    expiring the history before it lets a collection delete exactly those
    four objects on the S3 server."""
    storage = minio.storage("repos/repack")
    repo = ic.Repository.create(storage)
    s = repo.writable_session("main")
    chunk = 65536  # int32: 256 KiB, twelve to an object
    arr = zarr.create_array(s.store, name="a", shape=(48 * chunk,), chunks=(chunk,), dtype="i4", compressors=None)
    want = np.arange(48 * chunk, dtype="i4")
    arr[:] = want
    s.commit("48 chunks of 256 KiB")
    s = repo.writable_session("main")
    arr = zarr.open_array(s.store, path="a", mode="a")
    for i in range(48):
        if i % 4:
            want[i * chunk : (i + 1) * chunk] *= -1
            arr[i * chunk : (i + 1) * chunk] = want[i * chunk : (i + 1) * chunk]
    s.commit("three chunks in four rewritten")
    time.sleep(1.5)  # past S3's one-second timestamps, so the collection may delete them

    # Fraction 1: every object with an unused byte, however zarr's
    # concurrent writes spread the chunks over the four.
    summary = repo.repack_chunks(branch="main", max_live_fraction=1)
    assert not summary.dry_run
    assert (summary.objects_repacked, summary.chunks_moved) == (4, 12)
    assert (summary.bytes_moved, summary.bytes_freeable) == (12 * 4 * chunk, 36 * 4 * chunk)
    cutoff = repo.lookup_snapshot(summary.snapshot_id).written_at
    repo.expire_snapshots(cutoff)
    assert repo.garbage_collect(cutoff).chunks_deleted == 4
    again = ic.Repository.open(minio.storage("repos/repack"))
    np.testing.assert_array_equal(zarr.open_array(again.readonly_session(branch="main").store, path="a", mode="r")[:], want)


def test_s3_reads_ahead_of_scans(minio: Minio) -> None:
    """Reads through zarr on S3 start read-ahead when a batch continues
    the last one: scans, scans that stop and jump, reverse and strided
    reads all give the right values, with read-ahead held or not."""
    storage = minio.storage("repos/read-ahead")
    repo = ic.Repository.create(storage)
    s = repo.writable_session("main")
    chunk = 65536
    want = np.arange(64 * chunk, dtype="i4")
    zarr.create_array(s.store, name="a", shape=want.shape, chunks=(chunk,), dtype="i4", compressors=None)[:] = want
    s.commit("64 chunks of 256 KiB")
    arr = zarr.open_array(ic.Repository.open(storage).readonly_session(branch="main").store, path="a", mode="r")
    np.testing.assert_array_equal(arr[:], want)
    for first in range(0, 24, 3):  # a scan in small steps, then a jump back
        np.testing.assert_array_equal(arr[first * chunk : (first + 3) * chunk], want[first * chunk : (first + 3) * chunk])
    np.testing.assert_array_equal(arr[5 * chunk : 9 * chunk], want[5 * chunk : 9 * chunk])
    for first in range(60, 0, -4):  # backwards
        np.testing.assert_array_equal(arr[first * chunk : (first + 4) * chunk], want[first * chunk : (first + 4) * chunk])
    np.testing.assert_array_equal(arr[:: chunk // 2], want[:: chunk // 2])  # two values of each chunk
    np.testing.assert_array_equal(arr[100 : 40 * chunk + 7], want[100 : 40 * chunk + 7])


def test_s3_conflicting_writers(minio: Minio) -> None:
    repo = ic.Repository.create(minio.storage("repos/conflicts"))
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="a", shape=(4,), chunks=(1,), dtype="i4", fill_value=0)
    s.commit("init")
    a, b = repo.writable_session("main"), repo.writable_session("main")
    zarr.open_array(a.store, path="a", mode="a")[0] = 1
    zarr.open_array(b.store, path="a", mode="a")[3] = 2
    a.commit("a")
    with pytest.raises(ic.ConflictError):
        b.commit("b")
    b.commit("b", rebase_with=ic.ConflictDetector())
    assert zarr.open_array(repo.readonly_session(branch="main").store, path="a", mode="r")[:].tolist() == [1, 0, 0, 2]


def test_s3_session_pickles_with_its_storage(minio: Minio) -> None:
    repo = ic.Repository.create(minio.storage("repos/pickle"))
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="a", shape=(3,), dtype="i1")[:] = [1, 2, 3]
    s.commit("c")
    ro = pickle.loads(pickle.dumps(repo.readonly_session(branch="main")))
    assert zarr.open_array(ro.store, path="a", mode="r")[:].tolist() == [1, 2, 3]


def test_s3_bad_credentials(minio: Minio) -> None:
    storage = ic.s3_storage(
        bucket=minio.bucket,
        prefix="repos/denied",
        region=REGION,
        endpoint_url=minio.endpoint,
        allow_http=True,
        force_path_style=True,
        access_key_id=ACCESS_KEY,
        secret_access_key="wrong-secret",
    )
    with pytest.raises(ic.StorageError) as e:
        ic.Repository.create(storage)
    assert "wrong-secret" not in str(e.value)


def test_s3_storage_classes(minio: Minio) -> None:
    """StorageSettings' classes reach S3: chunk objects and metadata objects
    with their own class, read back with boto3; a class the server lacks
    fails the commit naming it, and the branch stays where it was."""
    s3 = minio.client()
    prefix = "repos/classes"
    cfg = ic.RepositoryConfig(
        inline_chunk_threshold_bytes=0,
        storage=ic.StorageSettings(
            retries=ic.StorageRetriesSettings(max_tries=2, initial_backoff_ms=5, max_backoff_ms=20),
            chunks_storage_class="REDUCED_REDUNDANCY",
            metadata_storage_class="STANDARD",
        ),
    )
    repo = ic.Repository.create(minio.storage(prefix), cfg)
    s = repo.writable_session("main")
    arr = zarr.create_array(s.store, name="a", shape=(4,), chunks=(2,), dtype="i4", fill_value=0)
    arr[:] = np.arange(1, 5, dtype="i4")
    s.commit("classed")

    classes: dict[str, set[str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=minio.bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            kind = obj["Key"][len(prefix) + 1 :].split("/")[0]
            head = s3.head_object(Bucket=minio.bucket, Key=obj["Key"])
            classes.setdefault(kind, set()).add(head.get("StorageClass", "STANDARD"))
    assert classes.pop("chunks") == {"REDUCED_REDUNDANCY"}
    assert set(classes) >= {"snapshots", "manifests", "refs"}
    assert all(c == {"STANDARD"} for c in classes.values()), classes

    got = ic.Repository.open(minio.storage(prefix)).config.storage
    assert got is not None and got.chunks_storage_class == "REDUCED_REDUNDANCY"
    assert got.retries == ic.StorageRetriesSettings(max_tries=2, initial_backoff_ms=5, max_backoff_ms=20)

    tip = repo.lookup_branch("main")
    repo.save_config(ic.RepositoryConfig(storage=ic.StorageSettings(chunks_storage_class="NO_SUCH_CLASS")))
    s = repo.writable_session("main")
    zarr.open_array(s.store, path="a", mode="r+")[:] = 7
    with pytest.raises(ic.IcechunkError, match="InvalidStorageClass"):
        s.commit("refused")
    assert repo.lookup_branch("main") == tip


def test_s3_large_chunk_reads_split(minio: Minio) -> None:
    """StorageConcurrencySettings: a chunk larger than the ideal request
    size is read as that many ranged GETs at once (here the maximum of 8
    for a 1 MiB chunk at 64 KiB), and reads back the same; under the
    default 12 MiB it is one GET."""
    prefix = "repos/split-reads"
    data = np.random.default_rng(7).integers(0, 2**31, size=2 * 256 * 1024, dtype="<i4")
    repo = ic.Repository.create(minio.storage(prefix))
    s = repo.writable_session("main")
    arr = zarr.create_array(s.store, name="a", shape=data.shape, chunks=(256 * 1024,), dtype="<i4", compressors=None, fill_value=0)
    arr[:] = data
    s.commit("two 1 MiB chunks")

    def gets_reading(repo: ic.Repository) -> int:
        ro = zarr.open_array(repo.readonly_session(branch="main").store, path="a", mode="r")
        before = minio.get_requests()
        got = ro[: 256 * 1024]
        after = minio.get_requests()
        np.testing.assert_array_equal(got, data[: 256 * 1024])
        return after - before

    whole = gets_reading(ic.Repository.open(minio.storage(prefix)))
    split_cfg = ic.RepositoryConfig(
        storage=ic.StorageSettings(
            concurrency=ic.StorageConcurrencySettings(max_concurrent_requests_for_object=8, ideal_concurrent_request_size=64 * 1024)
        )
    )
    split = gets_reading(ic.Repository.open(minio.storage(prefix), split_cfg))
    assert whole >= 1 and split == whole + 7, (whole, split)
    # under a bound of one request at a time, the parts take turns
    split_cfg.max_concurrent_requests = 1
    assert gets_reading(ic.Repository.open(minio.storage(prefix), split_cfg)) == split


def test_s3_large_objects_are_multipart_uploads(minio: Minio) -> None:
    """minimum_size_for_multipart_upload: a 20 MiB chunk, with the setting
    at 8 MiB, goes up as a multipart upload of three 8 MiB parts (its ETag
    says so) and reads back the same; under the default 100 MiB it is one
    PUT."""
    prefix = "repos/multipart"
    data = np.random.default_rng(11).integers(0, 2**31, size=5 * 1024 * 1024, dtype="<i4")

    def write(repo: ic.Repository, prefix: str, name: str) -> tuple[int, int]:
        s = repo.writable_session("main")
        arr = zarr.create_array(s.store, name=name, shape=data.shape, chunks=data.shape, dtype="<i4", compressors=None, fill_value=0)
        parts, puts = minio.requests("PutObjectPart"), minio.requests("PutObject")
        arr[:] = data
        s.commit(f"one 20 MiB chunk in {name}")
        ro = zarr.open_array(ic.Repository.open(minio.storage(prefix)).readonly_session(branch="main").store, path=name, mode="r")
        np.testing.assert_array_equal(ro[:], data)
        return minio.requests("PutObjectPart") - parts, minio.requests("PutObject") - puts

    cfg = ic.RepositoryConfig(storage=ic.StorageSettings(minimum_size_for_multipart_upload=8 * 1024 * 1024))
    repo = ic.Repository.create(minio.storage(prefix), cfg)
    assert write(repo, prefix, "a")[0] == 3
    s3 = minio.client()
    etags = [
        s3.head_object(Bucket=minio.bucket, Key=o["Key"])["ETag"].strip('"')
        for o in s3.list_objects_v2(Bucket=minio.bucket, Prefix=prefix + "/chunks/")["Contents"]
    ]
    assert [e for e in etags if e.endswith("-3")] and len(etags) == 1, etags

    plain = prefix + "-default"
    parts, puts = write(ic.Repository.create(minio.storage(plain)), plain, "a")
    assert parts == 0 and puts >= 1, (parts, puts)


def test_s3_without_conditional_creates(minio: Minio) -> None:
    """Upstream's settings for stores without conditional writes are
    accepted: with unsafe_use_conditional_create=False a create-only write
    is a check, a plain write and a read back, which still turns a commit
    on a branch that moved into a conflict. The setting is stored; the
    two that have no effect here are not."""
    prefix = "repos/no-conditional-create"
    settings = ic.StorageSettings(unsafe_use_conditional_create=False, unsafe_use_conditional_update=False, unsafe_use_metadata=False)
    repo = ic.Repository.create(minio.storage(prefix), ic.RepositoryConfig(storage=settings))
    stored = ic.Repository.open(minio.storage(prefix)).config.storage
    assert stored == ic.StorageSettings(unsafe_use_conditional_create=False)
    s1, s2 = repo.writable_session("main"), repo.writable_session("main")
    zarr.create_array(s1.store, name="a", shape=(2,), chunks=(1,), dtype="i4", fill_value=0)[:] = [1, 2]
    zarr.create_array(s2.store, name="b", shape=(2,), chunks=(1,), dtype="i4", fill_value=0)[:] = [3, 4]
    first = s1.commit("first")
    with pytest.raises(ic.ConflictError):
        s2.commit("second")
    assert repo.lookup_branch("main") == first
    repo.create_tag("v1", first)
    with pytest.raises(ic.IcechunkError, match="v1"):
        repo.create_tag("v1", first)
    # turned back on: the stored setting goes
    repo.save_config(ic.RepositoryConfig(storage=ic.StorageSettings(unsafe_use_conditional_create=True)))
    assert ic.Repository.open(minio.storage(prefix)).config.storage is None


def test_s3_reopening_reuses_connections(minio: Minio) -> None:
    """Opening a repository through a new storage again and again (a Dask
    task each, or unpickling a repository) reuses connections rather than
    leaving a pool of idle ones behind each storage."""
    prefix = "repos/reopen"
    ic.Repository.create(minio.storage(prefix))

    def sockets() -> int:
        n = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
            except OSError:
                pass  # closed meanwhile (the listing's own descriptor)
        return n

    before = sockets()
    for _ in range(60):
        repo = ic.Repository.open(minio.storage(prefix))
        assert repo.list_branches() == {"main"}
        repo.close()
    assert sockets() - before < 16, (before, sockets())


def test_s3_hung_server_fails_after_the_stream_timeout(silent_server: str) -> None:
    """A server that takes requests and never answers fails each try after
    network_stream_timeout_seconds, with a message naming the option,
    instead of holding the caller for minutes."""
    storage = ic.s3_storage(
        bucket="b", endpoint_url=silent_server, allow_http=True,
        force_path_style=True, anonymous=True, network_stream_timeout_seconds=1,
    )  # fmt: skip
    # The retry bound given to open applies to its own first reads.
    retries = ic.StorageRetriesSettings(max_tries=2, initial_backoff_ms=10, max_backoff_ms=10)
    config = ic.RepositoryConfig(storage=ic.StorageSettings(retries=retries))
    start = time.monotonic()
    with pytest.raises(ic.StorageError, match=r"for 1s \(network_stream_timeout_seconds\)"):
        ic.Repository.open(storage, config=config)
    assert 1.9 < time.monotonic() - start < 5


def test_s3_stream_timeout_arguments() -> None:
    assert "network_stream_timeout_seconds" not in ic.s3_storage(bucket="b", anonymous=True)._spec["config"]
    off = ic.s3_storage(bucket="b", anonymous=True, network_stream_timeout_seconds=0)
    assert off._spec["config"]["network_stream_timeout_seconds"] == 0
    for bad in (-1, 1.5, True, "5"):
        with pytest.raises(ValueError, match="network_stream_timeout_seconds"):
            ic.s3_storage(bucket="b", anonymous=True, network_stream_timeout_seconds=bad)
    options = ic.S3Options(network_stream_timeout_seconds=7)
    assert ic.Storage.new_s3(options, "b", "p", ic.s3_anonymous_credentials()) == ic.s3_storage(
        bucket="b", prefix="p", anonymous=True, network_stream_timeout_seconds=7
    )
    # A virtual chunk container's S3 store keeps its timeout in the
    # repository's configuration.
    assert ic.s3_store().network_stream_timeout_seconds is None
    assert ic.s3_store(network_stream_timeout_seconds=0).network_stream_timeout_seconds == 0
    assert ic.ObjectStoreConfig.S3(options).network_stream_timeout_seconds == 7
    with pytest.raises(ValueError, match="network_stream_timeout_seconds"):
        ic.s3_store(network_stream_timeout_seconds=-2)
    repo = ic.Repository.create(ic.in_memory_storage())
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(ic.VirtualChunkContainer("s3://bucket/data/", ic.s3_store(network_stream_timeout_seconds=0)))
    config.set_virtual_chunk_container(ic.VirtualChunkContainer("s3://other/", ic.s3_store(network_stream_timeout_seconds=9)))
    repo = ic.Repository.open(repo.storage, config=config)
    repo.save_config()
    stored = ic.Repository.fetch_config(repo.storage)
    assert stored is not None
    timeouts = {c.url_prefix: c.store.network_stream_timeout_seconds for c in stored.virtual_chunk_containers.values()}
    assert timeouts == {"s3://bucket/data/": 0, "s3://other/": 9}


def test_s3_storage_arguments() -> None:
    with pytest.raises(ValueError, match="exactly one credential source"):
        ic.s3_storage(bucket="b", anonymous=True, access_key_id="k", secret_access_key="s")
    with pytest.raises(ValueError, match="go together"):
        ic.s3_storage(bucket="b", access_key_id="k")
    assert ic.s3_storage(bucket="b", prefix="p", anonymous=True, region="eu-west-1").describe().startswith("s3://b/p")


def test_virtual_chunks_in_an_s3_container_upstream_style(minio: Minio, tmp_path: Path) -> None:
    """Upstream's recipe: a container with an S3 store in the repository's
    configuration, credentials given when opening, refs set through the
    store. The store's description persists; the credentials do not."""
    raw = np.arange(32, dtype="<i4").tobytes()
    s3 = minio.client()
    s3.put_object(Bucket=minio.bucket, Key="netcdf/data/file.bin", Body=raw)
    prefix = f"s3://{minio.bucket}/netcdf/"
    store = ic.s3_store(region=REGION, endpoint_url=minio.endpoint, allow_http=True, force_path_style=True)
    cfg = ic.RepositoryConfig.default()
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer(prefix, store))
    creds = ic.containers_credentials(
        {prefix: ic.s3_credentials(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)}
    )
    storage = ic.local_filesystem_storage(tmp_path / "repo")
    repo = ic.Repository.create(storage, cfg, authorize_virtual_chunk_access=creds)
    s = repo.writable_session("main")
    a = zarr.create_array(s.store, name="v", shape=(8,), chunks=(4,), dtype="<i4", compressors=None, fill_value=0)
    etag = s3.head_object(Bucket=minio.bucket, Key="netcdf/data/file.bin")["ETag"]
    s.store.set_virtual_ref("v/c/0", f"{prefix}data/file.bin", offset=0, length=16, checksum=etag)
    s.store.set_virtual_ref("v/c/1", f"{prefix}data/file.bin", offset=64, length=16)
    np.testing.assert_array_equal(a[:], np.r_[np.arange(4), np.arange(16, 20)])
    s.commit("virtual in s3")

    # The container's store is in the stored configuration; a new handle
    # reads the chunks once authorized, and not before.
    again = ic.Repository.open(storage)
    assert again.config.virtual_chunk_containers == {prefix: ic.VirtualChunkContainer(prefix, store)}
    with pytest.raises(ic.IcechunkError, match="no storage registered"):
        zarr.open_array(again.readonly_session("main").store, path="v", mode="r")[:]
    authorized = again.reopen(authorize_virtual_chunk_access=creds)
    got = zarr.open_array(authorized.readonly_session("main").store, path="v", mode="r")[:]
    np.testing.assert_array_equal(got, np.r_[np.arange(4), np.arange(16, 20)])

    # Wrong keys fail the read; a replaced object fails its ETag check.
    bad = ic.Repository.open(
        storage,
        authorize_virtual_chunk_access={prefix: ic.s3_static_credentials(access_key_id=ACCESS_KEY, secret_access_key="wrong")},
    )
    with pytest.raises(ic.IcechunkError):
        zarr.open_array(bad.readonly_session("main").store, path="v", mode="r")[:]
    s3.put_object(Bucket=minio.bucket, Key="netcdf/data/file.bin", Body=raw[::-1])
    fresh = ic.Repository.open(storage, authorize_virtual_chunk_access=creds)
    with pytest.raises(ic.IcechunkError, match="modified"):
        zarr.open_array(fresh.readonly_session("main").store, path="v", mode="r")[0:4]

    # credentials for containers the repository does not have are not used
    ignored = ic.Repository.open(storage, authorize_virtual_chunk_access={"s3://elsewhere/": None})
    with pytest.raises(ic.IcechunkError, match="no storage registered"):
        zarr.open_array(ignored.readonly_session("main").store, path="v", mode="r")[:]

    # Refreshable credentials authorize a container too.
    s3.put_object(Bucket=minio.bucket, Key="netcdf/data/file.bin", Body=raw)
    calls: list[int] = []

    def fetch() -> ic.S3StaticCredentials:
        calls.append(1)
        return ic.S3StaticCredentials(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)

    refreshing = ic.Repository.open(storage, authorize_virtual_chunk_access={prefix: ic.s3_refreshable_credentials(fetch)})
    got = zarr.open_array(refreshing.readonly_session("main").store, path="v", mode="r")[:]
    np.testing.assert_array_equal(got, np.r_[np.arange(4), np.arange(16, 20)])
    assert calls == [1]


def test_r2_and_tigris_storage_speak_s3(minio: Minio) -> None:
    """upstream's r2_storage and tigris_storage are S3 storages with their
    services' endpoints: pointed at the test server they hold a repository
    like s3_storage does."""
    for name, make in (("r2", ic.r2_storage), ("tigris", ic.tigris_storage)):
        storage = make(
            bucket=minio.bucket,
            prefix=f"repos/{name}",
            region=REGION,
            endpoint_url=minio.endpoint,
            allow_http=True,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
        )
        repo = ic.Repository.create(storage)
        s = repo.writable_session("main")
        zarr.create_array(s.store, name="a", shape=(3,), chunks=(1,), dtype="i4")[:] = [1, 2, 3]
        s.commit(name)
        keys = [o["Key"] for o in minio.client().list_objects_v2(Bucket=minio.bucket, Prefix=f"repos/{name}/")["Contents"]]
        assert any(k.startswith(f"repos/{name}/snapshots/") for k in keys)
        assert zarr.open_array(ic.Repository.open(storage).readonly_session("main").store, path="a")[:].tolist() == [1, 2, 3]


def test_r2_and_tigris_storage_refuse_what_they_cannot_do() -> None:
    r2 = ic.r2_storage(bucket="b", prefix="p", account_id="acct", from_env=True)
    assert r2._spec["config"]["endpoint"] == "https://acct.r2.cloudflarestorage.com"
    assert r2._spec["config"]["region"] == "auto"
    assert ic.tigris_storage(bucket="b", prefix=None, anonymous=True)._spec["config"]["endpoint"] == "https://fly.storage.tigris.dev"
    with pytest.raises(ValueError, match="account_id or endpoint_url"):
        ic.r2_storage(bucket="b")
    with pytest.raises(ValueError, match="bucket"):
        ic.r2_storage(account_id="acct")
    with pytest.raises(ValueError, match="use_weak_consistency"):
        ic.tigris_storage(bucket="b", prefix=None, use_weak_consistency=True)
    tigris = ic.tigris_storage(bucket="b", prefix=None, anonymous=True, network_stream_timeout_seconds=5)
    assert tigris._spec["config"]["network_stream_timeout_seconds"] == 5


_fetches: list[float] = []
_forever_calls: list[int] = []


def forever_minio_keys() -> ic.S3StaticCredentials:
    """A get_credentials function whose keys never expire."""
    _forever_calls.append(1)
    return ic.S3StaticCredentials(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)


def fetch_minio_keys() -> ic.S3StaticCredentials:
    """A get_credentials function (module-level, so that it pickles): the
    server's keys, valid for a second."""
    _fetches.append(time.time())
    return ic.S3StaticCredentials(
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        expires_after=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1),
    )


def test_s3_refreshable_credentials(minio: Minio) -> None:
    """get_credentials is called for the first request, again whenever the
    keys it gave are about to expire, and once at most at construction with
    scatter_initial_credentials, whose answer travels with a pickled
    storage; its exception fails the request with its message."""
    calls: list[int] = []

    def forever() -> ic.S3StaticCredentials:
        calls.append(1)
        return ic.S3StaticCredentials(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)

    common = {"bucket": minio.bucket, "region": REGION, "endpoint_url": minio.endpoint, "allow_http": True, "force_path_style": True}
    storage = ic.s3_storage(prefix="repos/refreshable", get_credentials=forever, **common)
    assert calls == []
    repo = ic.Repository.create(storage)
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="a", shape=(4,), chunks=(1,), dtype="i4")[:] = [1, 2, 3, 4]
    s.commit("refreshable")
    assert calls == [1]  # keys that never expire are asked for once

    _fetches.clear()
    brief = ic.s3_storage(prefix="repos/refreshable", get_credentials=fetch_minio_keys, **common)
    got = zarr.open_array(ic.Repository.open(brief).readonly_session("main").store, path="a")[:]
    assert got.tolist() == [1, 2, 3, 4]
    assert len(_fetches) >= 3  # keys about to expire are asked for again per request

    _forever_calls.clear()
    scattered = ic.s3_storage(prefix="repos/refreshable", get_credentials=forever_minio_keys, scatter_initial_credentials=True, **common)
    assert _forever_calls == [1]  # called at construction
    copy = pickle.loads(pickle.dumps(scattered))
    assert copy == scattered
    assert ic.Repository.open(copy).lookup_branch("main")
    assert _forever_calls == [1]  # the copy used the keys it carried

    def broken() -> ic.S3StaticCredentials:
        raise RuntimeError("the token service is down")

    failing = ic.s3_storage(prefix="repos/refreshable", get_credentials=broken, **common)
    with pytest.raises(ic.IcechunkError, match="the token service is down"):
        ic.Repository.open(failing)
    wrong_type = ic.s3_storage(prefix="repos/refreshable", get_credentials=lambda: "keys", **common)
    with pytest.raises(ic.IcechunkError, match="S3StaticCredentials"):
        ic.Repository.open(wrong_type)
    with pytest.raises(ValueError, match="exactly one credential source"):
        ic.s3_storage(bucket="b", get_credentials=forever, from_env=True)


def test_s3_storage_from_upstream_constructor(minio: Minio) -> None:
    """Upstream's ``Storage.new_s3(S3Options(...), bucket, prefix,
    credentials)`` makes the same storage as :func:`s3_storage`, and a
    repository written through one is read through the other."""
    options = ic.S3Options(region=REGION, endpoint_url=minio.endpoint, allow_http=True, force_path_style=True)
    creds = ic.s3_static_credentials(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    storage = ic.Storage.new_s3(options, minio.bucket, "repos/upstream-constructor", creds)
    assert storage == minio.storage("repos/upstream-constructor")
    repo = ic.Repository.create(storage)
    s = repo.writable_session("main")
    zarr.open_group(s.store, mode="w").create_array("a", shape=(4,), chunks=(2,), dtype="i4")[:] = np.arange(4)
    snap = s.commit("through new_s3")
    again = ic.Repository.open(minio.storage("repos/upstream-constructor"))
    assert again.lookup_branch("main") == snap
    # Upstream's static credentials type works as well.
    keys = ic.S3StaticCredentials(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    assert ic.Storage.new_s3(options, minio.bucket, "repos/upstream-constructor", keys) == storage
