"""The probes' pure parsing: docker inspect, compose ps, systemctl, certificates. No processes."""

from __future__ import annotations

import datetime as dt
import json
import ssl

import pytest

from actors.domain.inventory import DiskCheck, HttpCheck, TcpCheck, check_id
from actors.domain.observations import Observation
from actors.probes.compose import compose_entries, describe_compose, parse_compose_ps
from actors.probes.container import describe_container, parse_docker_inspect
from actors.probes.systemd import parse_systemctl_units
from actors.probes.tls import parse_certificate
from samples import COMPOSE_LINES

# -- docker inspect ------------------------------------------------------------------------------

# `docker inspect --type container -- web` of a running nginx with a healthcheck (trimmed of
# NetworkSettings, HostConfig and GraphDriver, which the probe does not read).
NGINX_RUNNING = [
    {
        "Id": "3f4e8b1c2d3a9e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f",
        "Created": "2026-11-20T09:12:33.123456789Z",
        "Path": "/docker-entrypoint.sh",
        "Args": ["nginx", "-g", "daemon off;"],
        "State": {
            "Status": "running",
            "Running": True,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": 4242,
            "ExitCode": 0,
            "Error": "",
            "StartedAt": "2026-11-20T09:12:34.567890123Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {
                "Status": "healthy",
                "FailingStreak": 0,
                "Log": [
                    {
                        "Start": "2026-11-26T10:00:00.1Z",
                        "End": "2026-11-26T10:00:00.2Z",
                        "ExitCode": 0,
                        "Output": "",
                    }
                ],
            },
        },
        "Image": "sha256:4ff102c5d78d254a6f0da062b3cf39eaf07f01eec0927fd21e219d0af8bc0591",
        "ResolvConfPath": "/var/lib/docker/containers/3f4e8b/resolv.conf",
        "Name": "/web",
        "RestartCount": 2,
        "Driver": "overlay2",
        "Platform": "linux",
        "Config": {
            "Hostname": "3f4e8b1c2d3a",
            "User": "",
            "ExposedPorts": {"80/tcp": {}},
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "NGINX_VERSION=1.27"],
            "Cmd": ["nginx", "-g", "daemon off;"],
            "Healthcheck": {
                "Test": ["CMD-SHELL", "wget -q --spider http://localhost/ || exit 1"],
                "Interval": 30000000000,
            },
            "Image": "nginx:1.27-alpine",
            "Labels": {"maintainer": "NGINX Docker Maintainers <docker-maint@nginx.com>"},
            "StopSignal": "SIGQUIT",
        },
    }
]


def inspect_of(**state: object) -> str:
    container = json.loads(json.dumps(NGINX_RUNNING[0]))
    container["State"].update(state)
    return json.dumps([container], indent=4)


def test_docker_inspect_running_healthy() -> None:
    facts = parse_docker_inspect(json.dumps(NGINX_RUNNING, indent=4))
    assert facts == {
        "state": "running",
        "health": "healthy",
        "image": "nginx:1.27-alpine",
        "image_id": NGINX_RUNNING[0]["Image"],
        "started_at": "2026-11-20T09:12:34.567890123Z",
        "exit_code": 0,
        "restart_count": 2,
    }
    assert describe_container(facts) == "running (healthy), nginx:1.27-alpine"


def test_docker_inspect_unhealthy_says_what_the_healthcheck_said() -> None:
    health = {
        "Status": "unhealthy",
        "FailingStreak": 4,
        "Log": [
            {"ExitCode": 1, "Output": "old"},
            {"ExitCode": 1, "Output": "wget: can't connect to remote host\n(127.0.0.1): refused\n"},
        ],
    }
    facts = parse_docker_inspect(inspect_of(Health=health))
    assert facts["health"] == "unhealthy"
    assert facts["health_output"] == "wget: can't connect to remote host (127.0.0.1): refused"
    assert describe_container(facts).startswith("running (unhealthy), nginx:1.27-alpine: wget")


def test_docker_inspect_exited_without_healthcheck() -> None:
    container = json.loads(inspect_of(Status="exited", Running=False, ExitCode=137))
    del container[0]["State"]["Health"]
    container[0]["State"]["Error"] = ""
    facts = parse_docker_inspect(json.dumps(container))
    assert facts["state"] == "exited"
    assert facts["health"] is None
    assert facts["exit_code"] == 137
    assert "error" not in facts and "health_output" not in facts
    assert describe_container(facts) == "exited (code 137), nginx:1.27-alpine"


def test_docker_inspect_keeps_the_daemon_error() -> None:
    facts = parse_docker_inspect(
        inspect_of(Status="created", Error="driver failed programming external connectivity")
    )
    assert facts["state"] == "created"
    assert facts["error"] == "driver failed programming external connectivity"


def test_docker_inspect_empty_array_is_missing() -> None:
    assert parse_docker_inspect("[]\n") == {"state": "missing"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json at all",
        "{}",
        '[{"Id": "x"}]',
        '["web"]',
        "[" + " " * (64 * 1024) + "]",
    ],
)
def test_docker_inspect_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_docker_inspect(text)


# -- docker compose ps ---------------------------------------------------------------------------

# The same project as Compose before 2.21 printed it: one JSON array, fewer fields.
COMPOSE_ARRAY = json.dumps(
    [
        {
            "ID": "9a8b7c6d5e4f",
            "Name": "web-db-1",
            "Image": "postgres:16",
            "Command": "docker-entrypoint.sh postgres",
            "Project": "web",
            "Service": "db",
            "Created": 1763629951,
            "State": "exited",
            "Status": "Exited (1) 3 minutes ago",
            "Health": "",
            "ExitCode": 1,
            "Publishers": None,
        },
        {
            "ID": "3f4e8b1c2d3a",
            "Name": "web-web-1",
            "Image": "nginx:1.27-alpine",
            "Command": "/docker-entrypoint.sh nginx -g 'daemon off;'",
            "Project": "web",
            "Service": "web",
            "Created": 1763629953,
            "State": "running",
            "Status": "Up 2 hours (unhealthy)",
            "Health": "unhealthy",
            "ExitCode": 0,
            "Publishers": [
                {"URL": "0.0.0.0", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"}
            ],
        },
    ]
)


def test_compose_json_lines_all_running() -> None:
    facts = parse_compose_ps(COMPOSE_LINES, main_service="web")
    assert facts == {
        "state": "running",
        "running": 2,
        "total": 2,
        "states": "running",
        "health": "healthy",
        "image": "nginx:1.27-alpine",
        "down": "",
    }
    assert describe_compose(facts) == "2/2 running; health: healthy"


def test_compose_array_form_of_older_compose() -> None:
    facts = parse_compose_ps(COMPOSE_ARRAY, main_service="web")
    assert facts == {
        "state": "partial",
        "running": 1,
        "total": 2,
        "states": "exited,running",
        "health": "unhealthy",
        "image": "nginx:1.27-alpine",
        "down": "db=exited",
    }
    assert describe_compose(facts) == "1/2 running; not running: db=exited; health: unhealthy"


@pytest.mark.parametrize(
    ("main", "expected", "image"),
    [
        (None, None, "nginx:1.27-alpine"),  # the first listed
        ("db", None, "postgres:16"),  # the service named like the project
        ("stack", "postgres:16", "postgres:16"),  # the one running the expected image
        ("stack", "postgres:17", "postgres:16"),  # same repository, another tag
        ("stack", "redis:7", "nginx:1.27-alpine"),  # nothing obvious: the first
    ],
)
def test_compose_main_image(main: str | None, expected: str | None, image: str) -> None:
    assert parse_compose_ps(COMPOSE_LINES, main_service=main, expected_image=expected)["image"] == (
        image
    )


@pytest.mark.parametrize("text", ["", "\n", "[]", "[]\n", "null"])
def test_compose_no_containers_is_missing(text: str) -> None:
    facts = parse_compose_ps(text)
    assert facts["state"] == "missing"
    assert (facts["running"], facts["total"], facts["image"]) == (0, 0, None)


def test_compose_health_is_the_worst() -> None:
    lines = "\n".join(
        json.dumps({"Service": s, "State": "running", "Health": h, "Image": "x"})
        for s, h in [("a", "healthy"), ("b", "starting"), ("c", ""), ("d", "healthy")]
    )
    assert parse_compose_ps(lines)["health"] == "starting"
    none = "\n".join(json.dumps({"Service": s, "State": "running", "Health": ""}) for s in "ab")
    assert parse_compose_ps(none)["health"] is None


def test_compose_all_stopped() -> None:
    lines = "\n".join(
        json.dumps({"Service": s, "State": st, "Health": ""})
        for s, st in [("a", "exited"), ("b", "created")]
    )
    facts = parse_compose_ps(lines)
    assert (facts["state"], facts["states"], facts["down"]) == (
        "stopped",
        "created,exited",
        "a=exited,b=created",
    )


@pytest.mark.parametrize(
    "text", ["garbage", '{"State": "running"}\nnot json', "[1, 2]", '"running"', "{"]
)
def test_compose_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        compose_entries(text)


# -- systemctl list-units ------------------------------------------------------------------------

SYSTEMCTL = json.dumps(
    [
        {
            "unit": "nginx.service",
            "load": "loaded",
            "active": "active",
            "sub": "running",
            "description": "A high performance web server and a reverse proxy server",
        },
        {
            "unit": "nginx-reload.timer",
            "load": "loaded",
            "active": "inactive",
            "sub": "dead",
            "description": "Reload nginx",
        },
        {
            "unit": "backup.service",
            "load": "loaded",
            "active": "failed",
            "sub": "failed",
            "description": "Nightly backup",
        },
        {
            "unit": "ghost.service",
            "load": "not-found",
            "active": "inactive",
            "sub": "dead",
            "description": "ghost.service",
        },
    ]
)


@pytest.mark.parametrize(
    ("unit", "facts"),
    [
        ("nginx.service", {"state": "active", "sub": "running", "load": "loaded"}),
        ("nginx-reload.timer", {"state": "inactive", "sub": "dead", "load": "loaded"}),
        ("backup.service", {"state": "failed", "sub": "failed", "load": "loaded"}),
        ("ghost.service", {"state": "not-found", "sub": "dead", "load": "not-found"}),
        ("absent.service", {"state": "not-found", "sub": None, "load": None}),
    ],
)
def test_systemctl_units(unit: str, facts: dict) -> None:
    assert parse_systemctl_units(SYSTEMCTL, unit) == facts


@pytest.mark.parametrize("text", ["[]", "[]\n", ""])
def test_systemctl_nothing_listed_is_not_found(text: str) -> None:
    assert parse_systemctl_units(text, "nginx.service")["state"] == "not-found"


@pytest.mark.parametrize(
    "text", ["UNIT LOAD ACTIVE SUB DESCRIPTION", '{"unit": "nginx.service"}', '["nginx"]']
)
def test_systemctl_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_systemctl_units(text, "nginx.service")


# -- certificates --------------------------------------------------------------------------------

# Made with `cryptography`: EC keys, a CA-ish issuer, the subjects and dates in the table below.
CERT_UTC = """-----BEGIN CERTIFICATE-----
MIIBPTCB46ADAgECAggSNFZ4kKvN7zAKBggqhkjOPQQDAjAaMRgwFgYDVQQDDA9I
b21lbGFiIFRlc3QgQ0EwHhcNMjYwMTAxMDAwMDAwWhcNMjYxMjMxMjM1OTU5WjAv
MRAwDgYDVQQKDAdIb21lbGFiMRswGQYDVQQDDBJuYXMuZXhhbXBsZS50cy5uZXQw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR9MkwL/gUFEqbwy6S/4yZZw7UbEjzN
QmsW2BsU4cpeWPxkZdENpNdyMLstiQgQ5RcRnH5kglhq/YJgwnPBv6nBMAoGCCqG
SM49BAMCA0kAMEYCIQDufaGjAZTKUmxqSkg4L4m3PsiFEGApx1aI7Gh28xxUkQIh
AL15lIejXYQTbs/lRIiwACRdWfurEFHVrTpAAe774/Jg
-----END CERTIFICATE-----
"""
CERT_GENERALIZED = """-----BEGIN CERTIFICATE-----
MIIBJzCBzqADAgECAggSNFZ4kKvN7zAKBggqhkjOPQQDAjAaMRgwFgYDVQQDDA9I
b21lbGFiIFRlc3QgQ0EwIBcNMjYwMTAxMDAwMDAwWhgPMjA1MTA2MDExMjAwMDBa
MBgxFjAUBgNVBAMMDVrDvHJpY2gtUHJveHkwWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAAR9MkwL/gUFEqbwy6S/4yZZw7UbEjzNQmsW2BsU4cpeWPxkZdENpNdyMLst
iQgQ5RcRnH5kglhq/YJgwnPBv6nBMAoGCCqGSM49BAMCA0gAMEUCIDjofUJq2uV3
nioW6awWP/9YRX+w5nwLfXgJziGWgsp8AiEA9AY0BAW67KcCwRRBrc3IFTK7a1Zn
xZnNjWxA8DlsjsI=
-----END CERTIFICATE-----
"""
CERT_NO_CN_1900S = """-----BEGIN CERTIFICATE-----
MIIBITCByKADAgECAggSNFZ4kKvN7zAKBggqhkjOPQQDAjAaMRgwFgYDVQQDDA9I
b21lbGFiIFRlc3QgQ0EwHhcNOTkwMTAxMDAwMDAwWhcNMDAwMTAyMDMwNDA1WjAU
MRIwEAYDVQQKDAlObyBDTiBJbmMwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR9
MkwL/gUFEqbwy6S/4yZZw7UbEjzNQmsW2BsU4cpeWPxkZdENpNdyMLstiQgQ5RcR
nH5kglhq/YJgwnPBv6nBMAoGCCqGSM49BAMCA0gAMEUCIQDLSQqWSRqjai3GTiDb
pyg7fSvczCqhi8rqOnsUg4aMzAIgRL08F/H4Ip9vm/ad3SrYSciuDObIgSXBR7Da
CrlVGBE=
-----END CERTIFICATE-----
"""
UTC = dt.UTC


@pytest.mark.parametrize(
    ("pem", "not_after", "cn"),
    [
        (CERT_UTC, dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "nas.example.ts.net"),
        (CERT_GENERALIZED, dt.datetime(2051, 6, 1, 12, 0, 0, tzinfo=UTC), "Zürich-Proxy"),
        (CERT_NO_CN_1900S, dt.datetime(2000, 1, 2, 3, 4, 5, tzinfo=UTC), None),
    ],
)
def test_certificate(pem: str, not_after: dt.datetime, cn: str | None) -> None:
    cert = parse_certificate(ssl.PEM_cert_to_DER_cert(pem))
    assert (cert.not_after, cert.subject_cn) == (not_after, cn)


@pytest.mark.parametrize("cut_at", [0, 1, 5, 40, 120, 200])
def test_truncated_certificate_is_a_value_error(cut_at: int) -> None:
    der = ssl.PEM_cert_to_DER_cert(CERT_UTC)
    with pytest.raises(ValueError):
        parse_certificate(der[:cut_at])


def test_not_a_certificate_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_certificate(b"\x02\x01\x05" * 10)


def test_an_unknown_version_is_a_value_error() -> None:
    der = ssl.PEM_cert_to_DER_cert(CERT_UTC)
    v3 = bytes.fromhex("a003020102")  # [0] version INTEGER 2 (v3)
    assert v3 in der
    with pytest.raises(ValueError, match="version"):
        parse_certificate(der.replace(v3, bytes.fromhex("a003020105"), 1))


@pytest.mark.parametrize("string_type", ["BMPString", "UniversalString", "UTF8String"])
def test_a_common_name_reads_as_text_whatever_its_string_type(string_type: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.name import _ASN1Type
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Zürich €", _type=_ASN1Type[string_type])]
    )
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(dt.datetime(2027, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    cert = parse_certificate(built.public_bytes(serialization.Encoding.DER))
    assert cert.subject_cn == "Zürich €"


# -- check ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (HttpCheck(type="http", url="http://x/"), "http"),
        (TcpCheck(type="tcp", port=5432), "tcp-5432"),
        (DiskCheck(type="disk"), "disk"),
        (DiskCheck(type="disk", path="/srv/media/"), "disk-srv-media"),
        (DiskCheck(type="disk", name="media", path="/srv/Media"), "media"),
    ],
)
def test_check_ids_are_check_id(check, expected: str) -> None:
    assert check_id(check) == expected


@pytest.mark.parametrize("path", ["/mnt/My Data", "/srv/" + "deep/" * 20, "/_x", "/mnt/Ünïcode"])
def test_check_ids_the_observation_would_reject_are_made_safe(path: str) -> None:
    check = DiskCheck(type="disk", path=path)
    safe = check_id(check)
    assert safe == check_id(DiskCheck(type="disk", path=path))  # stable
    assert safe.startswith("disk-")
    Observation(node="n", check=safe, outcome="ok", interval=1, observed_at=0)
