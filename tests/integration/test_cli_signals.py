"""`carehub serve` with the embedded broker: SIGTERM and SIGHUP stop it as Ctrl-C does.

Mosquitto runs in its own session (it must not see the terminal's Ctrl-C before the hub
has drained), so nothing but the hub's own shutdown stops it: a hub that dies on a signal
without running its shutdown leaves the broker running, holding the port and the data dir.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hub.broker.embedded import free_port

pytestmark = pytest.mark.broker

START_TIMEOUT = 60.0


def _children(pid: int) -> list[int]:
    """Direct children of pid (from /proc, no psutil here)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie counts as gone: it has exited, its parent just did not reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _mosquitto_child(hub: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert hub.poll() is None, f"hub exited early:\n{log.read_text(errors='replace')}"
        for pid in _children(hub.pid):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if Path(exe).name == "mosquitto":
                return pid
        time.sleep(0.1)
    raise AssertionError(f"no mosquitto child:\n{log.read_text(errors='replace')}")


def _wait_http(port: int, hub: subprocess.Popen[bytes], log: Path) -> None:
    """Until uvicorn answers: its own signal handling is what used to lose the shutdown."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert hub.poll() is None, f"hub exited early:\n{log.read_text(errors='replace')}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (not ready yet is fine: the server is up)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"HTTP never answered:\n{log.read_text(errors='replace')}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_stops_the_embedded_broker(sig: signal.Signals, tmp_path: Path) -> None:
    http_port = free_port()
    env = dict(
        os.environ,
        CAREHUB_DATA_DIR=str(tmp_path / "var"),
        CAREHUB_BROKER_PORT=str(free_port()),
        CAREHUB_HTTP_PORT=str(http_port),
        CAREHUB_LOG_LEVEL="WARNING",
    )
    for name in ("CAREHUB_BROKER_URL", "CAREHUB_DATABASE_URL", "CAREHUB_SHARDS"):
        env.pop(name, None)
    log = tmp_path / "hub.log"
    with open(log, "ab") as fh:
        hub = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve"], env=env, stdout=fh, stderr=fh
        )
    mosquitto: int | None = None
    try:
        mosquitto = _mosquitto_child(hub, log)
        _wait_http(http_port, hub, log)
        hub.send_signal(sig)
        hub.wait(30)
        assert not _alive(mosquitto), "the hub exited and left Mosquitto running"
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
        if mosquitto is not None and _alive(mosquitto):
            os.kill(mosquitto, signal.SIGKILL)  # the orphan of a failed run, by its pid
