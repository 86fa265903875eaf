"""The embedded Mosquitto: the project's config from mosquitto/, run as a child process."""

from __future__ import annotations

import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hub.broker.dynsec import BrokerAddress, DynSecClient

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "mosquitto" / "mosquitto.conf.tmpl"
PLUGIN_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)
ADMIN_USER = "carehub-admin"
HUB_USER = "carehub-hub"


class BrokerError(RuntimeError):
    """The embedded broker could not be set up or started."""


@dataclass(frozen=True)
class BrokerSecrets:
    """Generated credentials of the embedded broker (kept 0600 in the data dir)."""

    admin_password: str
    hub_password: str


def find_executable(name: str) -> str:
    """Locate a Mosquitto tool (Debian installs the broker in /usr/sbin)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise BrokerError(f"{name} not found: install the Debian package 'mosquitto' (make deps)")
    return found


def find_plugin() -> str:
    """Locate the dynamic-security plugin shipped with Mosquitto."""
    for cand in PLUGIN_CANDIDATES:
        if os.path.exists(cand):
            return cand
    raise BrokerError(
        "mosquitto_dynamic_security.so not found (Debian package 'mosquitto' ships it)"
    )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


class EmbeddedBroker:
    """A Mosquitto child process with the project's config and its own state directory."""

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int,
        bind: str = "127.0.0.1",
        mosquitto_bin: str = "mosquitto",
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.port = port
        self.bind = bind
        self._bin = mosquitto_bin
        self._proc: subprocess.Popen[bytes] | None = None

    # --- files ----------------------------------------------------------------------------

    @property
    def conf_path(self) -> Path:
        return self.state_dir / "mosquitto.conf"

    @property
    def dynsec_path(self) -> Path:
        return self.state_dir / "dynamic-security.json"

    @property
    def secrets_path(self) -> Path:
        return self.state_dir / "broker-secrets.json"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "mosquitto.log"

    def prepare(self) -> BrokerSecrets:
        """Render the config; on first use create the admin account and the secrets file."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "persistence").mkdir(exist_ok=True)
        self.conf_path.write_text(
            TEMPLATE.read_text().format(
                port=self.port,
                bind=self.bind,
                dynsec_plugin=find_plugin(),
                dynsec_file=self.dynsec_path,
                persistence_dir=self.state_dir / "persistence",
                user=pwd.getpwuid(os.geteuid()).pw_name,
            )
        )
        if self.secrets_path.exists() and self.dynsec_path.exists():
            data = json.loads(self.secrets_path.read_text())
            return BrokerSecrets(data["admin_password"], data["hub_password"])
        sec = BrokerSecrets(secrets.token_urlsafe(24), secrets.token_urlsafe(24))
        self.dynsec_path.unlink(missing_ok=True)
        subprocess.run(
            [
                find_executable("mosquitto_ctrl"),
                "dynsec",
                "init",
                str(self.dynsec_path),
                ADMIN_USER,
                sec.admin_password,
            ],
            check=True,
            capture_output=True,
        )
        fd = os.open(self.secrets_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"admin_password": sec.admin_password, "hub_password": sec.hub_password}, fh)
        return sec

    # --- process --------------------------------------------------------------------------

    def start(self, *, timeout: float = 10.0) -> BrokerSecrets:
        """Start Mosquitto and make sure the hub account exists."""
        sec = self.prepare()
        exe = self._bin if os.path.sep in self._bin else find_executable(self._bin)
        logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self._proc = subprocess.Popen(
            [exe, "-c", str(self.conf_path)], stdout=logf, stderr=logf, start_new_session=True
        )
        logf.close()
        try:
            wait_for_port(
                "127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind, self.port, timeout
            )
        except BrokerError:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise BrokerError(f"Mosquitto did not start on port {self.port}:\n{tail}") from None
        with DynSecClient(self.admin_address(sec)) as ctl:
            ctl.ensure_hub_account(HUB_USER, sec.hub_password)
        log.info("embedded Mosquitto on %s:%s (pid %s)", self.bind, self.port, self._proc.pid)
        return sec

    def admin_address(self, sec: BrokerSecrets) -> BrokerAddress:
        return BrokerAddress("127.0.0.1", self.port, ADMIN_USER, sec.admin_password)

    def hub_address(self, sec: BrokerSecrets) -> BrokerAddress:
        return BrokerAddress("127.0.0.1", self.port, HUB_USER, sec.hub_password)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop Mosquitto (SIGTERM; it saves its persistence file on the way out)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """Kill Mosquitto without warning (fault tests)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
