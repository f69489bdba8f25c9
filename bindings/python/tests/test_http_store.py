"""Virtual chunks in files a web server publishes: http_store, http_storage."""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import re
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk_go as ic


class _FileHandler(http.server.BaseHTTPRequestHandler):
    """Serves the files under ``root`` with single ranges, ETags (the MD5
    of the content), Last-Modified and If-Match, as static web servers do;
    ``busy`` answers the next requests 503."""

    root: Path
    busy: list[int]
    requests: list[str]

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        self.requests.append(f"{self.command} {self.path} {self.headers.get('Range', '')} ua={self.headers.get('User-Agent')}")
        if self.busy[0] > 0:
            self.busy[0] -= 1
            self.send_error(503)
            return
        path = self.root / urllib.parse.unquote(self.path.lstrip("/"))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        if (want := self.headers.get("If-Match")) is not None and want != etag:
            self.send_error(412)
            return
        status, start, end = 200, 0, len(data) - 1
        if m := re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", "")):
            start, end = int(m.group(1)), min(int(m.group(2)), len(data) - 1)
            if start >= len(data):
                self.send_error(416)
                return
            status = 206
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(path.stat().st_mtime, usegmt=True))
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if body:
            self.wfile.write(data[start : end + 1])

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass


class Files:
    """A web server's folder: ``url`` serves the files written under ``root``."""

    def __init__(self, root: Path, url: str, busy: list[int], requests: list[str]) -> None:
        self.root, self.url, self.busy, self.requests = root, url, busy, requests


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Files]:
    root = tmp_path / "www"
    (root / "files").mkdir(parents=True)
    busy, requests = [0], []
    handler = type("Handler", (_FileHandler,), {"root": root, "busy": busy, "requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Files(root / "files", f"http://127.0.0.1:{server.server_port}/files/", busy, requests)
    finally:
        server.shutdown()
        server.server_close()


def test_virtual_chunks_over_http(files: Files) -> None:
    """Upstream's recipe with an HTTP container: the container's store in
    the configuration, access authorized (with None: the files are
    public) when opening, refs pinned to the file's ETag. A busy server is
    retried; a file replaced after its refs were made fails the read,
    saying why."""
    raw = np.arange(4000, dtype="<i4")
    (files.root / "data file.bin").write_bytes(raw.tobytes())
    etag = '"' + hashlib.md5(raw.tobytes()).hexdigest() + '"'
    location = files.url + "data%20file.bin"
    cfg = ic.RepositoryConfig.default()
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer(files.url, ic.http_store()))
    storage = ic.in_memory_storage()
    repo = ic.Repository.create(storage, cfg, authorize_virtual_chunk_access={files.url: None})
    s = repo.writable_session("main")
    a = zarr.create_array(s.store, name="v", shape=(4000,), chunks=(1000,), dtype="<i4", compressors=None, fill_value=0)
    for i in range(4):
        # written as in a URL, or with the space as it is: the same file
        loc = location if i % 2 else location.replace("%20", " ")
        s.store.set_virtual_ref(f"v/c/{i}", loc, offset=4000 * i, length=4000, checksum=etag)
    s.commit("virtual over http")

    # A new handle reads once authorized, and not before.
    again = ic.Repository.open(storage)
    assert again.config.virtual_chunk_containers == {files.url: ic.VirtualChunkContainer(files.url, ic.http_store())}
    with pytest.raises(ic.IcechunkError, match="no storage registered"):
        zarr.open_array(again.readonly_session(branch="main").store, path="v", mode="r")[:10]
    authorized = ic.Repository.open(storage, authorize_virtual_chunk_access={files.url: None})
    arr = zarr.open_array(authorized.readonly_session(branch="main").store, path="v", mode="r")
    files.busy[0] = 2
    np.testing.assert_array_equal(arr[:], raw)
    assert any(r.startswith("GET /files/data%20file.bin bytes=") for r in files.requests), files.requests[:5]

    (files.root / "data file.bin").write_bytes(raw[::-1].tobytes())
    with pytest.raises(ic.IcechunkError, match="modified after its reference was made"):
        arr[:1000]


def test_http_storage_arguments(files: Files) -> None:
    with pytest.raises(ic.InvalidArgumentError, match="ftp"):
        ic.http_storage("ftp://example.com/files/")
    st = ic.http_storage("https://user:secret@example.com/files")
    assert st.describe() == "https://example.com/files/"
    import pickle

    assert pickle.loads(pickle.dumps(st)).describe() == "https://example.com/files/"
    assert ic.ObjectStoreConfig.Http() == ic.http_store() == ic.ObjectStoreConfig.Http({})
    with pytest.raises(TypeError, match="mapping of strings to strings"):
        ic.http_store({"timeout": 5})  # type: ignore[dict-item]
    with pytest.raises(ic.InvalidArgumentError, match='unknown client option "http2_only"'):
        ic.http_storage(files.url, {"http2_only": "true"})
    with pytest.raises(ic.InvalidArgumentError, match=r'"timeout": "soon" is not a duration'):
        ic.http_storage(files.url, {"timeout": "soon"})
    with pytest.raises(ic.InvalidArgumentError, match="allow_http is false"):
        ic.http_storage(files.url, {"allow_http": "false"})
    tuned = ic.http_storage("https://example.com/files", {"timeout": "2min 30s", "user_agent": "survey/1"})
    assert pickle.loads(pickle.dumps(tuned)).describe() == "https://example.com/files/"
    # an HTTP store serves http(s):// prefixes only, and takes no credentials
    cfg = ic.RepositoryConfig.default()
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer("s3://bucket/", ic.http_store()))
    with pytest.raises(ic.IcechunkError, match="HTTP store serves"):
        ic.Repository.create(ic.in_memory_storage(), cfg)
    cfg = ic.RepositoryConfig.default()
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer(files.url, ic.http_store()))
    with pytest.raises(TypeError, match="takes no credentials"):
        ic.Repository.create(
            ic.in_memory_storage(), cfg, authorize_virtual_chunk_access={files.url: ic.s3_anonymous_credentials()}
        )
    # a repository cannot live in one
    with pytest.raises(ic.IcechunkError, match="a repository cannot live in one"):
        ic.Repository.create(ic.http_storage(files.url))


def test_http_client_options_are_kept_and_used(files: Files) -> None:
    """Upstream's http_store options live in the container's configuration
    and tune the client the container is connected with; one that does not
    parse is refused when connecting, naming it."""
    (files.root / "a.bin").write_bytes(np.arange(100, dtype="<i4").tobytes())
    opts = {"user_agent": "survey-reader/2", "timeout": "30s", "connect_timeout": "2s"}
    cfg = ic.RepositoryConfig.default()
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer(files.url, ic.ObjectStoreConfig.Http(opts)))
    storage = ic.in_memory_storage()
    repo = ic.Repository.create(storage, cfg, authorize_virtual_chunk_access={files.url: None})
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="v", shape=(100,), chunks=(100,), dtype="<i4", compressors=None, fill_value=0)
    s.store.set_virtual_ref("v/c/0", files.url + "a.bin", offset=0, length=400)
    s.commit("one virtual chunk")

    again = ic.Repository.open(storage, authorize_virtual_chunk_access={files.url: None})
    assert again.config.virtual_chunk_containers[files.url].store == ic.http_store(opts)
    files.requests.clear()
    arr = zarr.open_array(again.readonly_session(branch="main").store, path="v", mode="r")
    np.testing.assert_array_equal(arr[:], np.arange(100, dtype="<i4"))
    assert files.requests and all(r.endswith("ua=survey-reader/2") for r in files.requests), files.requests

    bad = ic.RepositoryConfig.default()
    bad.set_virtual_chunk_container(ic.VirtualChunkContainer(files.url, ic.http_store({"timeout": "soon"})))
    with pytest.raises(ic.InvalidArgumentError, match='client option "timeout"'):
        ic.Repository.create(ic.in_memory_storage(), bad, authorize_virtual_chunk_access={files.url: None})
    # Client options belong to HTTP stores only.
    wrong = ic.RepositoryConfig.default()
    wrong.set_virtual_chunk_container(ic.VirtualChunkContainer("s3://bucket/", ic.ObjectStoreConfig(kind="s3", options={"timeout": "5s"})))
    with pytest.raises(ic.IcechunkError, match="client options are taken by an"):
        ic.Repository.create(ic.in_memory_storage(), wrong)
