"""The desired state: nodes and services as declared in the user's repository.

Strict pydantic models (``extra='forbid'``: an unknown key is an error, not ignored). Names
end up in bus topics and in command lines, so they follow one narrow pattern. The YAML side
(files, line numbers) is in ``inventory_files``; ``docs/inventory.md`` is the user's guide.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
# Container, compose project and image names as Docker accepts them; no leading '-' anywhere.
ContainerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
Image = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./:@-]{0,254}$")]
UnitName = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,250}\.(service|timer|socket|mount|target)$"
    ),
]
Host = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$")]
Argv = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=4096)]],
    Field(min_length=1, max_length=64),
]
Seconds = Annotated[float, Field(gt=0, le=86400)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- checks: how a service (or node) is observed ------------------------------------------------


class HttpCheck(Strict):
    type: Literal["http"]
    name: Name | None = None
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2048)]
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    contains: str | None = Field(None, max_length=1024, description="text the body must contain")
    timeout: Seconds = 5.0
    verify_tls: bool = True


class TcpCheck(Strict):
    type: Literal["tcp"]
    name: Name | None = None
    host: Host | None = Field(None, description="default: the node's address")
    port: Port
    timeout: Seconds = 5.0


class TlsCheck(Strict):
    type: Literal["tls"]
    name: Name | None = None
    host: Host | None = Field(None, description="default: the node's address")
    port: Port = 443
    server_name: Host | None = None
    warn_days: Annotated[int, Field(ge=0, le=3650)] = 14
    timeout: Seconds = 5.0


class DiskCheck(Strict):
    type: Literal["disk"]
    name: Name | None = None
    path: Annotated[str, StringConstraints(pattern=r"^/[^\x00]*$", max_length=1024)] = "/"
    max_used_percent: Annotated[float, Field(gt=0, le=100)] = 90.0


class CommandCheck(Strict):
    type: Literal["command"]
    name: Name | None = None
    argv: Argv
    timeout: Seconds = 10.0


Check = Annotated[
    HttpCheck | TcpCheck | TlsCheck | DiskCheck | CommandCheck, Field(discriminator="type")
]


CHECK_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
STATE_CHECK = "state"  # the id of a service's own state probe; no check may take it


def check_id(check: Check) -> str:
    """A check's stable id within its service: its name, else derived from what it probes
    (made safe for topics and ids: a disk path with capitals or spaces gets a hash)."""
    raw = _raw_check_id(check)
    if CHECK_ID.match(raw):
        return raw
    safe = re.sub(r"[^a-z0-9_.-]+", "-", raw.lower()).strip("-_.") or "check"
    digest = hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{safe[:54]}-{digest}"


def _raw_check_id(check: Check) -> str:
    if check.name:
        return check.name
    match check:
        case HttpCheck():
            return "http"
        case TcpCheck() | TlsCheck():
            return f"{check.type}-{check.port}"
        case DiskCheck():
            return (
                "disk" if check.path == "/" else "disk-" + check.path.strip("/").replace("/", "-")
            )
        case _:
            return check.type


# -- services: what should run, by kind ----------------------------------------------------------

Policy = Literal["approve", "auto", "ignore"]
Desired = Literal["running", "stopped"]


def _unique_check_ids(checks: list[Check]) -> list[Check]:
    ids = [check_id(c) for c in checks]
    for taken in sorted({i for i in ids if ids.count(i) > 1} | ({STATE_CHECK} & set(ids))):
        raise ValueError(
            f"two checks would be called {taken!r} (or it is reserved): give each a distinct `name`"
        )
    return checks


UniqueChecks = Annotated[list[Check], AfterValidator(_unique_check_ids), Field(max_length=32)]


class ServiceBase(Strict):
    node: Name
    description: str | None = Field(None, max_length=500)
    desired: Desired = "running"
    checks: UniqueChecks = Field(default_factory=list)
    interval: Seconds | None = Field(None, description="default: the node's interval")
    policy: Policy = "approve"
    actions: dict[str, Policy] = Field(
        default_factory=dict, description="policy per action type, overriding `policy`"
    )


ProjectName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class ComposeService(ServiceBase):
    kind: Literal["compose"]
    project: ProjectName
    directory: Annotated[str, StringConstraints(pattern=r"^/[^\x00]*$", max_length=1024)] | None = (
        None
    )
    image: Image | None = Field(None, description="expected image of the project's main service")


class ContainerService(ServiceBase):
    kind: Literal["container"]
    container: ContainerName | None = Field(None, description="default: the service's name")
    image: Image | None = None


class SystemdService(ServiceBase):
    kind: Literal["systemd"]
    unit: UnitName


class CommandService(ServiceBase):
    kind: Literal["command"]
    start: Argv = Field(description="starts the service and returns once it is up")
    stop: Argv
    status: Argv | None = Field(None, description="exits 0 while the service runs")
    version: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def needs_a_way_to_tell_it_runs(self) -> CommandService:
        if self.status is None and not self.checks:
            raise ValueError("a command service needs `status` or at least one check")
        return self


class EndpointService(ServiceBase):
    """A plain HTTP or TCP endpoint: observed, never started or stopped."""

    kind: Literal["http", "tcp"]

    @model_validator(mode="after")
    def needs_a_check(self) -> EndpointService:
        if not self.checks:
            raise ValueError(f"a {self.kind} service needs at least one check")
        return self


Service = Annotated[
    ComposeService | ContainerService | SystemdService | CommandService | EndpointService,
    Field(discriminator="kind"),
]


# -- nodes and the whole inventory -------------------------------------------------------------


class Ssh(Strict):
    user: Name | None = None
    port: Port = 22


class Node(Strict):
    address: Host = Field(description="Tailscale name or IP; 127.0.0.1 for the local node")
    ssh: Ssh | None = Field(None, description="how the executor reaches it; none = local")
    interval: Seconds = 30.0
    missed_intervals: Annotated[int, Field(ge=1, le=100)] = 3
    checks: UniqueChecks = Field(default_factory=list)


class Inventory(Strict):
    nodes: dict[Name, Node] = Field(default_factory=dict)
    services: dict[Name, Service] = Field(default_factory=dict)

    def references(self) -> list[tuple[tuple[str, ...], str]]:
        """Problems between entries (a service on an unknown node), with where they are."""
        return [
            (("services", name, "node"), f"node {service.node!r} is not declared under `nodes`")
            for name, service in self.services.items()
            if service.node not in self.nodes
        ]

    def services_of(self, node: str) -> dict[str, Service]:
        return {name: s for name, s in self.services.items() if s.node == node}


def json_schema() -> dict:
    return Inventory.model_json_schema()
