"""What the deploy files promise, read from the files (no Docker engine here, so no `docker
compose config`): the Compose stack's shape, the Dockerfile's rules (and hadolint), the pinned
dependencies. The Compose schema check itself is in test_project.py; here it is shown to fail
on a wrong file, so it is no empty promise."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from actors import executor as executor_module

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (REPO / "Dockerfile").read_text()
TAILNET = yaml.safe_load((REPO / "docker-compose.tailnet.yml").read_text())
AGENT_UNIT = REPO / "deploy" / "homelab-agent.service"
REPO_MOUNT = "${HOMELAB_REPO_DIR:?set HOMELAB_REPO_DIR in .env to your homelab repository}:/repo:ro"
SOCKET = "/var/run/docker.sock"


def instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and line[0] != "#"]


def stages(text: str) -> dict[str, list[str]]:
    """Each stage's instructions by its name (``FROM ... AS name``)."""
    found: dict[str, list[str]] = {}
    for line in instructions(text):
        if line.startswith("FROM "):
            name = line.split()[-1]
            found[name] = []
        found[name].append(line)
    return found


def seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smh])", duration))


# -- Compose -----------------------------------------------------------------------------------


def test_the_stack_has_the_six_services_each_with_health_restart_and_rotated_logs():
    assert set(SERVICES) == {"broker", "agent", "observer", "supervisor", "executor", "ui"}
    for name, service in SERVICES.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        assert service["restart"] == "unless-stopped", name
        assert service["logging"]["driver"] == "json-file", name
        assert service["logging"]["options"]["max-size"], name
        assert service["logging"]["options"]["max-file"], name
        assert service["build"]["context"] == "."
        if name != "broker":
            assert service["depends_on"] == {"broker": {"condition": "service_healthy"}}


def test_the_ui_is_control_plane_ui_on_8080_on_this_host_and_on_npms_network():
    ui = SERVICES["ui"]
    assert ui["container_name"] == "control-plane-ui"
    assert ui["command"] == ["ui"]
    assert ui["environment"]["HOMELAB_UI_HOST"] == "0.0.0.0"
    assert ui["environment"]["HOMELAB_UI_PORT"] == "8080"
    assert ui["ports"] == ["127.0.0.1:8080:8080"]
    assert sorted(ui["networks"]) == ["bus", "proxy"]
    assert "/healthz" in ui["healthcheck"]["test"][-1]
    # forwarded headers believed from NPM's network only (the bootstrap fills it in)
    assert ui["environment"]["HOMELAB_UI_TRUSTED_PROXIES"] == "${HOMELAB_UI_TRUSTED_PROXIES:-}"
    proxy = COMPOSE["networks"]["proxy"]
    assert proxy == {"name": "${NPM_NETWORK:-npm_default}", "external": True}


def test_the_bus_is_internal_and_nothing_but_the_ui_is_on_the_proxy_network():
    assert COMPOSE["networks"]["bus"]["internal"] is True
    for name, service in SERVICES.items():
        assert "bus" in service["networks"], name
        assert ("proxy" in service["networks"]) == (name == "ui"), name
        assert ("ports" in service) == (name == "ui"), name  # the broker is not published


def test_the_inventory_is_required_and_read_only_wherever_it_is_mounted():
    readers = {"agent", "supervisor", "executor"}  # the UI shows what the supervisor says
    for name, service in SERVICES.items():
        mounts = [v for v in service["volumes"] if ":/repo" in v]
        assert mounts == ([REPO_MOUNT] if name in readers else []), name
        assert "${HOMELAB_ROOT:-/opt/homelab}:/opt/homelab" in service["volumes"], name


def test_only_the_executor_has_the_docker_socket_and_the_ssh_key_and_runs_as_root():
    for name, service in SERVICES.items():
        volumes = " ".join(service["volumes"])
        assert (SOCKET in volumes) == (name == "executor"), name
        assert ("/.ssh" in volumes) == (name == "executor"), name
        assert service["user"] == ("0:0" if name == "executor" else "1000:1000"), name
        assert service["build"]["target"] == ("executor" if name == "executor" else "base")
    volumes = SERVICES["executor"]["volumes"]
    assert f"{SOCKET}:{SOCKET}" in volumes  # read-write: it starts and stops containers
    assert "${HOMELAB_SSH_DIR:-/opt/homelab-ssh}:/root/.ssh:ro" in volumes


def test_the_executor_gets_time_to_let_running_actions_end_before_it_is_killed():
    executor = SERVICES["executor"]
    command = executor["command"]
    action_timeout = float(command[command.index("--timeout") + 1])
    outbox_close = 15.0  # Executor.run: out.close(timeout=15.0)
    needed = action_timeout + executor_module.STOP_GRACE + outbox_close
    assert seconds(executor["stop_grace_period"]) >= needed


def test_every_variable_the_stack_reads_is_in_env_example():
    files = ("docker-compose.yml", "docker-compose.tailnet.yml")
    used = {name for f in files for name in re.findall(r"\$\{([A-Z_]+)", (REPO / f).read_text())}
    documented = set(re.findall(r"^([A-Z_]+)=", (REPO / ".env.example").read_text(), re.M))
    assert used == documented


def test_the_compose_schema_check_fails_on_a_wrong_file(tmp_path: Path, tool):
    wrong = (REPO / "docker-compose.yml").read_text().replace("healthcheck:", "healthchek:", 1)
    (tmp_path / "docker-compose.yml").write_text(wrong)
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "healthchek" in result.stdout + result.stderr


# -- Compose: the bus on the tailnet (docker-compose.tailnet.yml) ------------------------------

TAILNET_PORT = re.compile(r"(?P<host>\$\{HOMELAB_TAILNET_IP:\?[^}]+\}):(?P<port>\d+):(?P=port)")


def merged(base: object, override: object) -> object:
    """What ``docker compose -f base -f override`` makes, for the keys these files use:
    mappings merge, sequences (ports, networks) gain the override's new items, scalars are
    replaced. Enough to check the merged stack without a Docker engine."""
    if isinstance(base, dict) and isinstance(override, dict):
        keys = [*base, *(k for k in override if k not in base)]
        return {
            k: merged(base[k], override[k])
            if k in base and k in override
            else override.get(k, base.get(k))
            for k in keys
        }
    if isinstance(base, list) and isinstance(override, list):
        return base + [item for item in override if item not in base]
    return override


def published(compose: dict) -> dict[str, list[str]]:
    return {name: s["ports"] for name, s in compose["services"].items() if "ports" in s}


def test_the_tailnet_override_and_the_stack_with_it_match_the_compose_spec(tmp_path, tool):
    (tmp_path / "merged.json").write_text(json.dumps(merged(COMPOSE, TAILNET)))
    shutil.copy(REPO / "docker-compose.tailnet.yml", tmp_path)
    for name in ("docker-compose.tailnet.yml", "merged.json"):
        result = subprocess.run(
            [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, name + result.stdout + result.stderr


def test_the_tailnet_override_publishes_the_two_bus_ports_on_the_tailnet_address_only():
    assert set(TAILNET["services"]) == {"broker"}
    listen = SERVICES["broker"]["command"][-1]  # tcp://0.0.0.0:7001; publications on 7001 + 1
    request = int(listen.rsplit(":", 1)[1])
    ports = [TAILNET_PORT.fullmatch(p) for p in TAILNET["services"]["broker"]["ports"]]
    assert all(ports), TAILNET["services"]["broker"]["ports"]  # never 0.0.0.0, never no address
    assert sorted(int(p["port"]) for p in ports) == [request, request + 1]
    # ":?": an unset or empty address stops Compose instead of publishing on every interface
    assert all(p["host"].startswith("${HOMELAB_TAILNET_IP:?set HOMELAB_TAILNET_IP") for p in ports)


def test_with_the_override_nothing_is_published_but_the_ui_on_loopback_and_the_bus_ports():
    stack = merged(COMPOSE, TAILNET)
    assert published(stack) == {
        "ui": ["127.0.0.1:8080:8080"],
        "broker": TAILNET["services"]["broker"]["ports"],
    }
    for name in SERVICES.keys() - {"broker"}:
        assert stack["services"][name] == SERVICES[name], name


def test_with_the_override_the_broker_alone_joins_a_network_docker_publishes_from():
    # Docker publishes nothing for a container that is only on internal networks
    stack = merged(COMPOSE, TAILNET)
    networks = stack["services"]["broker"]["networks"]
    outside = [n for n in networks if not stack["networks"][n].get("internal")]
    assert "bus" in networks and outside == ["tailnet"]
    users = [name for name, s in stack["services"].items() if "tailnet" in s["networks"]]
    assert users == ["broker"]


def test_without_the_override_only_the_ui_is_published_and_only_on_loopback():
    assert published(COMPOSE) == {"ui": ["127.0.0.1:8080:8080"]}


# -- deploy/homelab-agent.service --------------------------------------------------------------

# The keys the unit may use, by section: a misspelt key is one systemd ignores with a warning.
UNIT_KEYS = {
    "Unit": {"Description", "Wants", "After"},
    "Service": {
        "Environment",
        "LoadCredential",
        "ExecStart",
        "StateDirectory",
        "StateDirectoryMode",
        "DynamicUser",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "NoNewPrivileges",
        "Restart",
        "RestartSec",
    },
    "Install": {"WantedBy"},
}


def unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit's sections, each its (key, value) lines in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep and key == key.strip(), f"not KEY=value: {line!r}"
        current.append((key, value))
    return sections


def options(exec_start: str) -> dict[str, str]:
    """``homelab agent``'s options in the unit's command line (each ``--name value``)."""
    words = exec_start.split()[2:]
    return dict(zip(words[::2], words[1::2], strict=True))


def test_the_agent_unit_has_only_known_keys_each_once_but_credentials():
    sections = unit(AGENT_UNIT.read_text())
    assert list(sections) == ["Unit", "Service", "Install"]
    for name, lines in sections.items():
        keys = [key for key, _ in lines]
        assert set(keys) <= UNIT_KEYS[name], set(keys) - UNIT_KEYS[name]
        repeated = {key for key in keys if keys.count(key) > 1}
        assert repeated <= {"LoadCredential"}, repeated


def test_the_agent_unit_runs_unprivileged_restarts_on_failure_and_keeps_its_state():
    service = dict(unit(AGENT_UNIT.read_text())["Service"])
    assert service["DynamicUser"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["Restart"] == "on-failure" and seconds(service["RestartSec"]) > 0
    command = service["ExecStart"].split()
    assert command[0].startswith("/") and command[1:2] == ["agent"]
    option = options(service["ExecStart"])
    assert set(option) == {"--node", "--bus", "--key", "--broker-key", "--root"}
    assert option["--root"] == "%S/" + service["StateDirectory"]  # /var/lib/homelab-agent


def test_the_agent_unit_reads_the_keys_systemd_hands_it():
    lines = unit(AGENT_UNIT.read_text())["Service"]
    credentials = [value.split(":", 1)[0] for key, value in lines if key == "LoadCredential"]
    option = options(dict(lines)["ExecStart"])
    assert sorted(credentials) == ["agent.key_secret", "broker.key"]
    assert option["--key"] == "%d/agent.key_secret"
    assert option["--broker-key"] == "%d/broker.key"


def test_systemd_finds_nothing_in_the_agent_unit(tmp_path: Path, tool):
    analyze = tool("systemd-analyze")
    # verify wants the program to exist: the same unit with one that does
    text = AGENT_UNIT.read_text().replace("/opt/homelab-agent/bin/homelab", "/bin/true")
    (tmp_path / "homelab-agent.service").write_text(text)
    result = subprocess.run(
        [analyze, "verify", "./homelab-agent.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        result.returncode == 0 and "homelab-agent.service" not in result.stdout + result.stderr
    ), result.stdout + result.stderr


# -- Dockerfile --------------------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_dockerfile(tool):
    result = subprocess.run(
        [tool("hadolint"), "Dockerfile"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_images_are_pinned_to_a_release_tag():
    for line in instructions(DOCKERFILE):
        if line.startswith("FROM ") and line.split()[1] != "base":
            image = line.split()[1]
            assert re.fullmatch(r"[\w./-]+:\d+(\.\d+){2}-[\w.-]+", image), image
    assert "latest" not in DOCKERFILE + (REPO / "docker-compose.yml").read_text()


def test_every_target_ends_as_uid_1000_and_only_the_executor_has_docker_and_ssh():
    by_stage = stages(DOCKERFILE)
    assert {"base", "executor"} <= set(by_stage)
    for name in ("base", "executor"):
        users = [line for line in by_stage[name] if line.startswith("USER ")]
        assert users[-1] == "USER 1000:1000", name
    base = " ".join(by_stage["base"])
    assert "docker" not in base and "openssh" not in base
    executor = " ".join(by_stage["executor"])
    assert "openssh-client" in executor
    assert "/usr/local/libexec/docker/cli-plugins/docker-compose" in executor
    assert "docker compose version" in executor


def test_apt_installs_nothing_recommended_and_leaves_no_lists():
    for line in instructions(DOCKERFILE):
        if "apt-get install" in line:
            assert "--no-install-recommends" in line and "rm -rf /var/lib/apt/lists/*" in line


def test_pip_installs_only_the_pinned_versions():
    installs = [line for line in instructions(DOCKERFILE) if "pip install" in line]
    assert installs
    for line in installs:
        assert "-r constraints.txt" in line or "-c constraints.txt" in line, line
    assert "--no-deps" in installs[-1]  # the project itself brings nothing unpinned


def test_the_build_context_leaves_out_everything_but_the_project():
    text = (REPO / ".dockerignore").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*"  # everything is left out, then the project's files let in
    assert "!constraints.txt" in lines and not any(".env" in line for line in lines)


# -- constraints.txt ---------------------------------------------------------------------------


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and re.fullmatch(r"[\w.+!-]+", version), line
            assert canonicalize_name(name) not in found, f"{name} twice"
            found[canonicalize_name(name)] = version
    return found


def test_constraints_pin_every_runtime_dependency_within_its_range():
    pinned = pins()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), text
    for extra in ("uvloop", "websockets", "httptools"):  # uvicorn[standard], via nicegui
        assert extra in pinned


@pytest.mark.parametrize("test_only", ["pytest", "ruff", "playwright", "hypothesis", "redis"])
def test_constraints_hold_no_test_or_benchmark_tool(test_only: str):
    assert test_only not in pins()
