"""Settings, from the environment (prefix CAREHUB_). Defaults are the embedded set-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET_KEY = "demo-only-secret-key-change-me"  # clearly-marked demo secret


class BrokerURL:
    """Parts of an mqtt:// URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {url!r}")
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r} has no host")
        self.tls = parts.scheme == "mqtts"
        self.host: str = parts.hostname
        self.port: int = parts.port or (8883 if self.tls else 1883)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None


class Settings(BaseSettings):
    """Every setting of carehub. The README's table is generated from these descriptions."""

    model_config = SettingsConfigDict(env_prefix="CAREHUB_", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "development", description="Deployment kind; production refuses demo secrets"
    )
    data_dir: Path = Field(
        Path("var"), description="Where the embedded database and broker keep state"
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/carehub; "
        "default: SQLite file DATA_DIR/carehub.db",
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite synchronous mode (FULL: an acknowledged event survives power loss)",
    )
    broker_url: str | None = Field(
        None,
        description="mqtt://user:password@host:port of an external broker for the hub's own "
        "account; default: start an embedded Mosquitto",
    )
    broker_admin_username: str | None = Field(
        None, description="Dynamic-security admin account on an external broker (provisioning)"
    )
    broker_admin_password: str | None = Field(None, description="Password of that admin account")
    broker_port: int = Field(1884, description="Port of the embedded Mosquitto (127.0.0.1)")
    mosquitto_bin: str = Field(
        "mosquitto", description="Mosquitto executable for the embedded broker"
    )
    hub_client_id: str = Field(
        "carehub-hub-1", description="MQTT client id of this hub process (persistent session)"
    )
    share_group: str | None = Field(
        None,
        description="MQTT 5 shared-subscription group when several hubs split the load; "
        "unset: a plain subscription (Mosquitto 2.0 does not keep shared subscriptions "
        "across a broker restart, see docs/adr/0003)",
    )
    shards: int = Field(
        0,
        ge=0,
        le=4096,
        description="Several hubs (PostgreSQL only): homes fall into this many shards, each "
        "shard's rule state owned by one hub at a time through a lease (docs/adr/0011); "
        "0: one hub runs the rules inside its ingest. Every hub must use the same value",
    )
    hub_id: str | None = Field(
        None, description="This hub's name in shard leases; default: CAREHUB_HUB_CLIENT_ID"
    )
    lease_ttl_s: float = Field(
        15.0,
        gt=0,
        description="A shard lease not renewed for this long may be taken by another hub",
    )
    lease_renew_s: float = Field(
        5.0, gt=0, description="How often a hub renews its shard leases and takes free ones"
    )
    shard_poll_ms: int = Field(
        200, ge=10, description="How often a shard owner reads newly stored events"
    )
    shard_tick_s: float = Field(
        30.0, gt=0, description="How often a shard owner fires its wall-clock timers"
    )
    session_expiry_s: int = Field(
        7 * 24 * 3600,
        description="MQTT session expiry: how long the broker queues for a stopped hub",
    )
    ingest_batch_max: int = Field(500, ge=1, description="Most messages stored in one commit")
    ingest_batch_wait_ms: int = Field(20, ge=0, description="Longest wait to fill a batch")
    ingest_queue_max: int = Field(
        2000,
        ge=1,
        description="Bounded in-process queue between MQTT and the store (back-pressure)",
    )
    ingest_receiver: Literal["process", "thread"] = Field(
        "process",
        description="Where MQTT is read: a receiver process (two cores) or a thread of the hub",
    )
    max_payload_bytes: int = Field(
        16 * 1024, ge=256, description="Larger payloads are dead-lettered"
    )
    http_host: str = Field("127.0.0.1", description="Web/API listen address")
    http_port: int = Field(8000, description="Web/API port")
    secret_key: str = Field(
        DEMO_SECRET_KEY, description="Signs web sessions; demo value refused in production"
    )
    demo: bool = Field(False, description="Seed demo teams, users and homes at start (make run)")
    log_level: str = Field("INFO", description="Log level")
    log_json: bool = Field(
        False,
        description="Write logs as one JSON object per line "
        "(ts, level, logger, message, request_id, event_id)",
    )

    @field_validator("share_group", "hub_id", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # compose passes `${CAREHUB_SHARE_GROUP:-}` as an empty string when it is not set
        return None if value == "" else value

    @model_validator(mode="after")
    def _no_demo_secrets_in_production(self) -> Settings:
        if self.env == "production" and self.secret_key == DEMO_SECRET_KEY:
            raise ValueError(
                "CAREHUB_SECRET_KEY must be set in production (the default is a demo value)"
            )
        if self.broker_url is not None:
            BrokerURL(self.broker_url)  # validate early, with a clear message
        if self.shards and self.lease_renew_s * 2 > self.lease_ttl_s:
            raise ValueError("CAREHUB_LEASE_RENEW_S must be at most half of CAREHUB_LEASE_TTL_S")
        return self

    @property
    def db_url(self) -> str:
        """The database URL in force."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'carehub.db').resolve()}"

    @property
    def embedded_broker(self) -> bool:
        """True when carehub starts its own Mosquitto."""
        return self.broker_url is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
