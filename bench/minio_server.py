"""A MinIO server on 127.0.0.1 for the S3 workload (W7).

The binary is the one the main Makefile installs (``make tools``):
``$MINIO_BIN``, else ``$(go env GOPATH)/bin/minio``. The server listens on
loopback only, on free ports, with its data in a temporary folder that is
removed when it stops. The bucket is made with boto3.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ACCESS_KEY = "benchadmin"
SECRET_KEY = "benchadmin-secret-key"
REGION = "us-east-1"
BUCKET = "bench"

_REQUESTS = re.compile(r'^minio_api_requests_total\{name="(\w+)"[^}]*\} ([0-9.e+]+)$')


def find_binary() -> str | None:
    env = os.environ.get("MINIO_BIN")
    if env and os.access(env, os.X_OK):
        return env
    found = shutil.which("minio")
    if found:
        return found
    try:
        gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    cand = Path(gopath) / "bin" / "minio"
    return str(cand) if os.access(cand, os.X_OK) else None


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


class MinIO:
    def __init__(self, binary: str, tmp_root: str | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="bench-minio-", dir=tmp_root))
        api, console = _free_ports(2)
        self.endpoint = f"http://127.0.0.1:{api}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIO_")}
        env.update(
            MINIO_ROOT_USER=ACCESS_KEY,
            MINIO_ROOT_PASSWORD=SECRET_KEY,
            MINIO_REGION=REGION,
            MINIO_BROWSER="off",
            MINIO_UPDATE="off",
            MINIO_CI_CD="on",
            MINIO_SCANNER_SPEED="slowest",
            # The request counters (per S3 API) readable without credentials,
            # on loopback only: the report gives the requests of each run.
            MINIO_PROMETHEUS_AUTH_TYPE="public",
        )
        env.update(extra_env or {})
        (self.dir / "data").mkdir()
        self.log = open(self.dir / "minio.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                binary, "server",
                "--address", f"127.0.0.1:{api}",
                "--console-address", f"127.0.0.1:{console}",
                "--quiet",
                str(self.dir / "data"),
            ],
            env=env,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )  # fmt: skip
        try:
            self._wait_live()
            self._client().create_bucket(Bucket=BUCKET)
        except BaseException:
            self.stop()
            raise

    def _wait_live(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"MinIO exited with {self.proc.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/minio/health/live", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"MinIO did not start in {timeout:.0f}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return (self.dir / "minio.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
        )

    def location(self, prefix: str) -> dict[str, Any]:
        return {
            "kind": "s3",
            "endpoint": self.endpoint,
            "bucket": BUCKET,
            "prefix": prefix,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "region": REGION,
        }

    def delete_prefix(self, prefix: str) -> None:
        """Deletes every object under prefix (between runs, not measured)."""
        c = self._client()
        token = None
        while True:
            kw: dict[str, Any] = {"Bucket": BUCKET, "Prefix": prefix.rstrip("/") + "/"}
            if token:
                kw["ContinuationToken"] = token
            page = c.list_objects_v2(**kw)
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            for i in range(0, len(keys), 1000):
                c.delete_objects(Bucket=BUCKET, Delete={"Objects": keys[i : i + 1000], "Quiet": True})
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def requests(self) -> dict[str, float]:
        """How many S3 requests the server has answered so far, by API
        (GetObject, PutObject, ListObjectsV2, ...); empty if unknown."""
        out: dict[str, float] = {}
        try:
            with urllib.request.urlopen(self.endpoint + "/minio/metrics/v3/api/requests", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return out
        for line in text.splitlines():
            m = _REQUESTS.match(line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server process has used so far."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
