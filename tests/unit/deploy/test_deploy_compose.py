"""The compose stack, checked without a Docker engine.

- docker-compose.yml against the Compose Specification JSON schema (the copy vendored in
  the check-jsonschema package: offline, pinned by the installed version);
- every CAREHUB_* variable is a real setting, and each carehub service's environment,
  filled from .env.example, makes valid Settings;
- mounted files, the Dockerfile's COPY sources and the commands the services run exist;
- the compose broker keeps the embedded broker's durability settings.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hub.broker.embedded import HUB_USER
from hub.settings import BrokerURL, Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
EMBEDDED_CONF = ROOT / "mosquitto" / "mosquitto.conf.tmpl"
COMPOSE_CONF = ROOT / "mosquitto" / "compose" / "mosquitto.conf"

# Services built from the Dockerfile that run the carehub package.
CAREHUB_SERVICES = ("prestart", "hub", "hub-2", "simulators")
SETTINGS_SERVICES = ("prestart", "hub", "hub-2")  # the ones that read hub.settings

_INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


def compose_schema() -> dict[str, Any]:
    """The Compose Specification schema shipped inside check-jsonschema (dev dependency)."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text("utf-8"))
    return schema


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def env_example() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ (a literal $)."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group("name"), m.group("op"), m.group("arg")
        got = env.get(name)
        if op in (":-", "-"):
            return got if got not in (None, "") else arg
        if op in (":?", "?") and got in (None, ""):
            raise KeyError(f"{name} is required: {arg}")
        if got is None:
            raise KeyError(f"{name} is not set")
        return got

    parts = value.split("$$")
    return "$".join(_INTERPOLATION.sub(one, p) for p in parts)


def service_env(service: str, env: dict[str, str]) -> dict[str, str]:
    raw = load_compose()["services"][service].get("environment", {})
    assert isinstance(raw, dict), f"{service}: use the mapping form of environment"
    return {k: interpolate(str(v), env) for k, v in raw.items()}


# --- schema ----------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    validator = jsonschema.Draft202012Validator(
        compose_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(load_compose()), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.mark.parametrize(
    ("path", "key", "bad"),
    [
        (("services", "hub"), "depends_onn", {"postgres": {"condition": "service_healthy"}}),
        (("services", "hub", "healthcheck"), "intervall", "10s"),
        (("services", "hub", "depends_on", "postgres"), "condition", "service_happy"),
        (("services", "postgres"), "ports", "5432:5432"),
        ((), "servics", {}),
    ],
)
def test_the_schema_check_rejects_typical_mistakes(
    path: tuple[str, ...], key: str, bad: object
) -> None:
    doc = copy.deepcopy(load_compose())
    node = doc
    for p in path:
        node = node[p]
    node[key] = bad
    validator = jsonschema.Draft202012Validator(compose_schema())
    assert not validator.is_valid(doc)


# --- settings --------------------------------------------------------------------------------


def test_every_carehub_variable_in_the_deployment_files_is_a_setting() -> None:
    names = set()
    for path in (COMPOSE, ENV_EXAMPLE, DOCKERFILE):
        names |= set(re.findall(r"\bCAREHUB_([A-Z0-9_]+)", path.read_text()))
    unknown = sorted(n for n in names if n.lower() not in Settings.model_fields)
    assert names, "no CAREHUB_* variable found: the regex is wrong"
    assert unknown == [], f"not in hub.settings.Settings: {unknown}"


def test_every_required_variable_has_a_placeholder_in_env_example() -> None:
    text = COMPOSE.read_text()
    example = env_example()
    required = {
        m.group("name") for m in _INTERPOLATION.finditer(text) if m.group("op") in (":?", "?")
    }
    assert required, "the compose file should refuse to start without its secrets"
    assert sorted(required - example.keys()) == []
    for name in required:
        if "PASSWORD" in name or "SECRET" in name:
            assert example[name].startswith("CHANGE-ME"), f"{name}: mark the placeholder"


@pytest.mark.parametrize("service", SETTINGS_SERVICES)
def test_service_environment_makes_valid_production_settings(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = service_env(service, env_example())
    for key in [k for k in os.environ if k.startswith("CAREHUB_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.env == "production"
    assert settings.db_url.startswith("postgresql+psycopg://carehub:")
    assert settings.db_url.endswith("@postgres:5432/carehub")
    assert str(settings.data_dir) == "/var/lib/carehub"


def test_hub_uses_the_compose_broker_with_its_own_account_and_the_admin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = env_example()
    env = service_env("hub", example)
    assert env["CAREHUB_BROKER_URL"]
    url = BrokerURL(env["CAREHUB_BROKER_URL"])
    assert (url.host, url.port) == ("mosquitto", 1883)
    assert url.username == HUB_USER  # the account the hub ensures via dynamic security
    assert url.password == example["HUB_BROKER_PASSWORD"]
    assert env["CAREHUB_BROKER_ADMIN_USERNAME"] == example["MOSQUITTO_ADMIN_USERNAME"]
    assert env["CAREHUB_BROKER_ADMIN_PASSWORD"] == example["MOSQUITTO_ADMIN_PASSWORD"]
    # The admin the broker's init step creates is the one the hub logs in with.
    init = service_env("mosquitto-init", example)
    assert init["MOSQUITTO_ADMIN_USERNAME"] == env["CAREHUB_BROKER_ADMIN_USERNAME"]
    assert init["MOSQUITTO_ADMIN_PASSWORD"] == env["CAREHUB_BROKER_ADMIN_PASSWORD"]
    # Reachable from the published port, not only from inside the container.
    assert env["CAREHUB_HTTP_HOST"] == "0.0.0.0"


@given(
    name=st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True),
    value=st.text(alphabet=st.characters(blacklist_characters="$}"), max_size=20),
    default=st.text(alphabet=st.characters(blacklist_characters="$}"), max_size=20),
)
def test_interpolation_helper_follows_compose_rules(name: str, value: str, default: str) -> None:
    env = {name: value}
    assert interpolate(f"a${{{name}}}b", env) == f"a{value}b"
    expected = value if value else default
    assert interpolate(f"${{{name}:-{default}}}", env) == expected
    assert interpolate(f"${{{name}_X:-{default}}}", env) == default
    assert interpolate(f"$${{{name}}}", env) == f"${{{name}}}"
    with pytest.raises(KeyError):
        interpolate(f"${{{name}_X:?missing}}", env)


# --- dependencies and health -------------------------------------------------------------------


def test_dependencies_wait_for_health_or_completion() -> None:
    services = load_compose()["services"]
    for name, svc in services.items():
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = cond["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck"
            else:
                assert condition == "service_completed_successfully", (name, dep, condition)
                assert services[dep].get("restart") == "no", f"one-shot {dep} must not restart"
    hub = services["hub"]["depends_on"]
    assert hub["postgres"]["condition"] == "service_healthy"
    assert hub["mosquitto"]["condition"] == "service_healthy"
    assert hub["prestart"]["condition"] == "service_completed_successfully"
    assert "/healthz" in " ".join(services["hub"]["healthcheck"]["test"])
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]


def test_hub_does_not_migrate_itself_the_prestart_does() -> None:
    services = load_compose()["services"]
    assert services["prestart"]["command"] == ["carehub", "db", "upgrade"]
    assert "--no-migrate" in services["hub"]["command"]


# --- commands, files, image --------------------------------------------------------------------


def _parse(cmd: Any, args: list[str]) -> None:
    """Parse (and type-check) arguments as the real command would, without running it."""
    cmd.make_context(cmd.name or "carehub", list(args), resilient_parsing=False)


def _resolve(args: list[str]) -> tuple[Any, list[str]]:
    """Walk `carehub db upgrade ...` down to the command object (Typer's own click types)."""
    from hub.cli import app

    cmd: Any = typer.main.get_command(app)
    rest = list(args)
    while hasattr(cmd, "get_command") and rest and not rest[0].startswith("-"):
        sub = cmd.get_command(cmd.context_class(cmd), rest[0])
        assert sub is not None, f"carehub has no command {rest[0]!r}"
        cmd, rest = sub, rest[1:]
    assert not hasattr(cmd, "get_command"), f"{args}: names a group, not a command"
    return cmd, rest


@pytest.mark.parametrize("service", CAREHUB_SERVICES)
def test_service_commands_exist_and_accept_their_options(service: str) -> None:
    command = load_compose()["services"][service]["command"]
    assert isinstance(command, list)
    if command[0] == "carehub":
        cmd, rest = _resolve(command[1:])
        _parse(cmd, rest)
    else:
        assert command[:3] == ["python", "-m", "simulators.cli"]
        from simulators.cli import simulate

        sim_app = typer.Typer()
        sim_app.command()(simulate)
        _parse(typer.main.get_command(sim_app), command[3:])


def test_a_wrong_option_would_be_caught() -> None:
    cmd, rest = _resolve(["serve", "--no-such-option"])
    with pytest.raises(Exception, match="No such option"):
        _parse(cmd, rest)
    with pytest.raises(AssertionError, match="no command"):
        _resolve(["db", "downgrade"])


def test_mounted_files_exist_and_the_broker_keeps_state_in_its_volume() -> None:
    services = load_compose()["services"]
    binds = []
    for svc in services.values():
        for vol in svc.get("volumes", []):
            source, target = vol.split(":")[:2]
            if source.startswith("."):
                binds.append((source, target))
                assert (ROOT / source).is_file(), f"mounted {source} is missing"
    assert ("./mosquitto/compose/mosquitto.conf", "/mosquitto/config/mosquitto.conf") in binds
    conf = dict(_conf_lines(COMPOSE_CONF))
    data_mounts = [v for v in services["mosquitto"]["volumes"] if v.endswith(":/mosquitto/data")]
    assert data_mounts, "the broker's data dir must be a volume"
    assert conf["plugin_opt_config_file"].startswith("/mosquitto/data/")
    assert conf["persistence_location"].startswith("/mosquitto/data")
    init = (ROOT / "mosquitto/compose/init-dynsec.sh").read_text()
    assert conf["plugin_opt_config_file"] in init
    assert "mosquitto_ctrl dynsec init" in init


def _conf_lines(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out.append((key, value.strip()))
    return out


def test_compose_broker_keeps_the_embedded_brokers_durability_settings() -> None:
    embedded = dict(_conf_lines(EMBEDDED_CONF))
    compose = dict(_conf_lines(COMPOSE_CONF))
    for key in (
        "per_listener_settings",
        "allow_anonymous",
        "persistence",
        "max_queued_messages",
        "max_queued_bytes",
        "max_inflight_messages",
        "message_size_limit",
    ):
        assert key in embedded, f"{key} gone from the embedded template"
        assert compose.get(key) == embedded[key], key
    assert "{" not in COMPOSE_CONF.read_text(), "the compose config is static, not a template"


def _dockerignore() -> list[str]:
    return [
        ln.strip()
        for ln in DOCKERIGNORE.read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]


def test_dockerfile_copies_only_existing_not_ignored_paths_and_runs_unprivileged() -> None:
    ignored = {p for p in _dockerignore() if not p.startswith("!")}
    lines = [
        ln.strip()
        for ln in DOCKERFILE.read_text().replace("\\\n", " ").splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    instructions = [shlex.split(ln) for ln in lines]
    copies = [words[1:-1] for words in instructions if words[0] == "COPY"]
    assert copies
    for sources in copies:
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: missing"
            assert src.split("/")[0] not in ignored, f"COPY {src}: excluded by .dockerignore"
    assert instructions[0] == ["FROM", "python:3.11-slim"]
    users = [words[1] for words in instructions if words[0] == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    assert lines[-1].startswith("CMD ")
    assert json.loads(lines[-1].removeprefix("CMD ")) == ["carehub", "serve"]
    # Needed by the editable install and the migrations at run time.
    for needed in ("pyproject.toml", "README.md", "alembic", "alembic.ini", "hub"):
        assert needed not in ignored


def _settings_of(service: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in [k for k in os.environ if k.startswith("CAREHUB_")]:
        monkeypatch.delenv(key, raising=False)
    for key, value in service_env(service, env).items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_the_second_hub_shares_everything_but_its_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = load_compose()["services"]
    env = env_example() | {"CAREHUB_SHARDS": "16", "CAREHUB_SHARE_GROUP": "carehub"}
    one = _settings_of("hub", env, monkeypatch)
    two = _settings_of("hub-2", env, monkeypatch)
    assert services["hub-2"]["profiles"] == ["scale"]
    assert one.hub_client_id != two.hub_client_id
    assert (one.shards, one.share_group, one.database_url, one.broker_url) == (
        two.shards,
        two.share_group,
        two.database_url,
        two.broker_url,
    )
    assert one.shards == 16
    assert one.share_group == "carehub"


def test_one_hub_by_default_runs_its_rules_in_the_ingest_with_a_plain_subscription(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings_of("hub", env_example(), monkeypatch)
    assert settings.shards == 0
    assert settings.share_group is None
