"""The ``homelab`` command: one subcommand per service, plus the operator's tools."""

from __future__ import annotations

import errno
import functools
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

from actors import decisions
from actors.domain.inventory_files import InventoryError
from actors.readmodel import queue, timespec
from bus import client, envelope, keys
from bus.dataroot import DataRoot
from bus.errors import HomelabError
from bus.log import Trimmed
from homelab import bus_keys, diskwait, layout, rootcheck, settings, ui_cli, user_input


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user mistakes end in one line on stderr and a non-zero status."""
    try:
        return (
            cli.main(
                args=list(argv) if argv is not None else None,
                prog_name="homelab",
                standalone_mode=False,
            )
            or 0
        )
    except click.exceptions.Abort:  # Ctrl-C: the operator stopped it, which is not a failure
        return 0
    except click.exceptions.NoArgsIsHelpError as err:
        err.show()
        return err.exit_code
    except click.UsageError as err:
        where = err.ctx.command_path if err.ctx else "homelab"
        click.echo(f"homelab: error: {_one_line(err.format_message())} (see: {where} -h)", err=True)
        return err.exit_code
    except click.ClickException as err:
        click.echo(f"homelab: error: {_one_line(err.format_message())}", err=True)
        return err.exit_code
    except HomelabError as err:  # worded for the operator, with its own status (1 or 2)
        click.echo(f"homelab: error: {err}", err=True)
        return err.exit_code
    except FileNotFoundError as err:
        click.echo(f"homelab: error: {err}", err=True)
        return 1
    except OSError as err:
        if err.errno not in STORAGE_ERRORS:
            raise
        where = f": {err.filename}" if err.filename else ""
        click.echo(f"homelab: error: {err.strerror or err}{where}", err=True)
        return 1
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        sys.stderr.close()  # `homelab tap | head`: the reader left, which is fine
        return 0


# The file system said no (read-only, full, not allowed, failing): one line, not a traceback.
STORAGE_ERRORS = (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EIO)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class SeqOrTime(click.ParamType):
    """SEQ or TIME, checked when the command line is read (the value stays text)."""

    name = "SEQ|TIME"

    def convert(self, value, param, ctx):
        try:
            timespec.parse(value, time.time())
        except timespec.TimeSpecError as err:
            self.fail(str(err), param, ctx)
        return value


SEQ_OR_TIME = SeqOrTime()


class Seconds(click.FloatRange):
    """A duration in seconds: finite and within bounds (click's FloatRange lets NaN through,
    and a NaN timeout never expires)."""

    name = "SECONDS"

    def convert(self, value, param, ctx):
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


BUS_TIMEOUT = Seconds(0.1, 3600)


class Days(Seconds):
    name = "DAYS"


root_option = click.option(
    "--root", type=click.Path(), help="Data root [env HOMELAB_ROOT; /opt/homelab]."
)
bus_option = click.option("--bus", help="Broker endpoint [env HOMELAB_BUS; tcp://127.0.0.1:7001].")
repo_option = click.option(
    "--repo", type=click.Path(), help="The inventory repository [env HOMELAB_REPO]."
)
json_lines_option = click.option(
    "--json", "as_json", is_flag=True, help="JSON lines: one JSON object per message."
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="One JSON document instead of text."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="homelab-control-plane")
def cli() -> None:
    """A filesystem-first, event-sourced control plane for homelabs.

    Every message goes through one broker, which numbers it and writes it to the event log
    under the data root before anyone sees it.
    """


@cli.command()
@root_option
def init(root: str | None) -> None:
    """Create the data root's folders (idempotent)."""
    s = settings.load(root=root)
    created = layout.init(s.root)
    made = bus_keys.prepare(s)
    done = [f"created {len(created)} folders"] if created else []
    done += [f"made bus keys ({', '.join(made)}) in {bus_keys.folder(s)}"] if made else []
    click.echo(f"{s.root}: " + ("; ".join(done) or "already set up"))


@cli.command("broker")
@root_option
@click.option(
    "--listen",
    help="Where to listen, one tcp://HOST:PORT or several comma-separated "
    "[env HOMELAB_LISTEN; the --bus endpoint].",
)
@bus_option
@click.option(
    "--fsync",
    type=click.Choice(["always", "batch", "never"]),
    help="When to fsync: per message, per batch (group commit) or never [batch].",
)
@click.option("--stats-interval", type=float, help="Seconds between bus.stats messages [1].")
@click.option(
    "--subscriber-buffer",
    type=click.IntRange(1, 4096),
    help="MiB held for a subscriber that does not read; past it, it catches up from the log "
    "[env HOMELAB_SUBSCRIBER_BUFFER; 16].",
)
@click.option(
    "--subscriber-queue",
    type=click.IntRange(1),
    help="The same limit in publication frames (each a group of messages), for tests.",
)
@click.option(
    "--retention-days",
    type=Days(0, 36500),
    help="Days of event log kept; older sealed segments are deleted (0: no limit) "
    "[env HOMELAB_RETENTION_DAYS; 30].",
)
@click.option(
    "--retention-bytes",
    metavar="SIZE",
    help="What the event log may take on disk, e.g. 4G or 500M; the oldest sealed segments "
    "go first (0: no limit) [env HOMELAB_RETENTION_BYTES; 4G].",
)
def broker_cmd(
    root,
    listen,
    bus,
    fsync,
    stats_interval,
    subscriber_buffer,
    subscriber_queue,
    retention_days,
    retention_bytes,
) -> int:
    """Run the broker: sequence, persist, then publish every message; keep the history
    within its retention (sealed segments compressed, the oldest deleted)."""
    from homelab import broker_service

    s = settings.load(
        root=root,
        listen=listen,
        bus=bus,
        fsync=fsync,
        stats_interval=stats_interval,
        subscriber_buffer=subscriber_buffer,
        subscriber_queue=subscriber_queue,
        retention_days=retention_days,
        retention_bytes=retention_bytes,
    )
    return broker_service.serve(s)


@cli.command()
@root_option
@bus_option
@repo_option
@click.option(
    "--demo",
    is_flag=True,
    help="Use the bundled example inventory; data root ~/.homelab-demo unless set. Makes "
    "a UI operator 'demo' if there is none and prints its password once.",
)
@click.option(
    "--port", "--ui-port", "ui_port", type=int, help="The UI's port [env HOMELAB_UI_PORT; 8080]."
)
@click.option("--no-ui", is_flag=True, help="Do not run the UI.")
@click.option("--chaos", is_flag=True, help="With --demo: kill a demo service every few minutes.")
@click.option(
    "--chaos-every",
    type=Seconds(1, 86400),
    default=180.0,
    show_default=True,
    help="With --chaos: seconds between two kills (give or take 10%).",
)
def up(
    root: str | None,
    bus: str | None,
    repo: str | None,
    demo: bool,
    ui_port,
    no_ui: bool,
    chaos: bool,
    chaos_every: float,
) -> int:
    """Run every service on this machine, restart crashed ones, stop all on Ctrl-C."""
    from homelab import up as up_module

    if chaos and not demo:
        raise click.UsageError("--chaos needs --demo (it kills the demo's services)")
    if demo and root is None and "HOMELAB_ROOT" not in os.environ:
        root = str(Path.home() / ".homelab-demo")
    s = settings.load(root=root, bus=bus, repo=repo, ui_port=ui_port)
    return up_module.run(s, demo=demo, ui=not no_ui, chaos_every=chaos_every if chaos else None)


@cli.group(invoke_without_command=True)
@click.option("--host", help="The address to listen on [env HOMELAB_UI_HOST; 127.0.0.1].")
@click.option("--port", type=int, help="The port [env HOMELAB_UI_PORT; 8080].")
@click.option(
    "--public-url",
    "public_urls",
    multiple=True,
    help="A URL the UI is also served at, e.g. by a reverse proxy: http(s)://host[:port][/path] "
    "(repeatable) [env HOMELAB_PUBLIC_URL, comma-separated].",
)
@root_option
@bus_option
@click.pass_context
def ui(ctx: click.Context, host, port, public_urls, root, bus) -> int:
    """The operator UI: run it, or manage its operators (add-user, remove-user, users).

    Without a subcommand, serves the UI in a browser at http://HOST:PORT; every page but
    /healthz and /summary (counts only) needs an operator's login. Sessions are keyed with
    HOMELAB_UI_SECRET, else with a secret made once under the data root. The UI needs no
    repository: it shows what the supervisor publishes.
    """
    if ctx.invoked_subcommand is not None:
        return 0
    s = settings.load(
        ui_host=host,
        ui_port=port,
        public_url=",".join(public_urls) if public_urls else None,
        root=root,
        bus=bus,
    )
    return ui_cli.serve(s)


@ui.command("add-user")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password as one line from stdin (the default when stdin is no terminal).",
)
@root_option
def ui_add_user(name: str, password_stdin: bool, root: str | None) -> int:
    """Add operator NAME, or give NAME a new password (asked twice on a terminal).

    Passwords have at least 8 characters and are stored hashed (argon2id) in
    ui/operators.json under the data root, with a new bus key (operator:NAME) whose secret
    is kept only sealed with the password; its public key is allowlisted and the old one
    revoked, so run it on the control plane, where the keys folder is. Needs no running
    service.
    """
    click.echo(ui_cli.add_user(settings.load(root=root), name, password_stdin))
    return 0


@ui.command("remove-user")
@click.argument("name")
@root_option
def ui_remove_user(name: str, root: str | None) -> int:
    """Remove operator NAME: they cannot log in or decide any more (their bus key is
    revoked; exit 1 if there is none)."""
    click.echo(ui_cli.remove_user(settings.load(root=root), name))
    return 0


@ui.command("users")
@root_option
def ui_users(root: str | None) -> int:
    """List the operators' names, one per line."""
    names = ui_cli.users(settings.load(root=root))
    for name in names:
        click.echo(name)
    if not names:
        click.echo("no operators: add one with `homelab ui add-user NAME`", err=True)
    return 0


@cli.group("keys")
def keys_group() -> None:
    """The bus's CURVE keys: who may connect, and as whom (docs/security.md)."""


@keys_group.command("add")
@click.argument("kind", type=click.Choice(["agent", "operator", "tool"]))
@click.argument("name")
@root_option
def keys_add(kind: str, name: str, root: str | None) -> int:
    """A key pair for another machine's agent NODE, operator or tool NAME, allowlisted."""
    role = _role(f"{kind}:{name}")
    folder = bus_keys.folder(settings.load(root=root))
    if keys.KeyDir(folder).client_secret(role).exists():
        raise click.UsageError(f"{role} has a key already: `homelab keys rotate {role}`")
    keys.add(folder, role)
    _what_to_copy(folder, role)
    return 0


@keys_group.command("rotate")
@click.argument("role")
@root_option
def keys_rotate(role: str, root: str | None) -> int:
    """A new key pair for ROLE (agent:web1...); its old key is revoked at once."""
    folder = bus_keys.folder(settings.load(root=root))
    keys.add(folder, _role(role))
    _what_to_copy(folder, role)
    return 0


@keys_group.command("revoke")
@click.argument("role_or_key")
@root_option
def keys_revoke(role_or_key: str, root: str | None) -> int:
    """Take ROLE (every key of it) or one public key off the allowlist: the broker refuses
    its next connection and every request on the ones it has, without a restart."""
    gone = keys.revoke(bus_keys.folder(settings.load(root=root)), role_or_key)
    if not gone:
        raise click.UsageError(
            f"no key of {role_or_key!r} on the allowlist (see: homelab keys list)"
        )
    click.echo(f"revoked {len(gone)} key(s) of {role_or_key}")
    return 0


@keys_group.command("list")
@root_option
def keys_list(root: str | None) -> int:
    """Every allowlisted public key and its role."""
    folder = bus_keys.folder(settings.load(root=root))
    allowed = keys.read_allowlist(keys.KeyDir(folder).allowlist)
    for key, role in sorted(allowed.items(), key=lambda item: (item[1], item[0])):
        click.echo(f"{role:<32} {key}")
    return 0


def _role(role: str) -> str:
    try:
        return keys.check_role(role)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _what_to_copy(folder: Path, role: str) -> None:
    where = keys.KeyDir(folder)
    secret = where.client_secret(role)
    kind, _, name = role.partition(":")
    click.echo(f"{role}: allowlisted. Copy these two files to the other machine, keeping the")
    click.echo("secret key file's mode 0600 (or put them into its key folder, HOMELAB_KEYS):")
    click.echo(f"  {where.broker_public}")
    click.echo(f"  {secret}")
    click.echo("then run there (BROKER: this machine's address, e.g. its Tailscale IP):")
    files = f"--key {secret.name} --broker-key {where.broker_public.name}"
    if kind == "agent":  # no checkout needed: it follows its node's desired state
        click.echo(f"  homelab agent --node {name} --bus tcp://BROKER:7001 {files} --root DIR")
    else:
        click.echo(
            f"  HOMELAB_KEY={secret.name} HOMELAB_BROKER_KEY={where.broker_public.name} "
            "homelab tap --bus tcp://BROKER:7001"
        )


@cli.command()
@click.argument("prefixes", nargs=-1)
@click.option(
    "--since",
    type=SEQ_OR_TIME,
    help="Start at a SEQ or TIME (2026-11-26T10:00, 10m) instead of now.",
)
@json_lines_option
@bus_option
def tap(prefixes, since, as_json, bus) -> int:
    """Show live bus messages whose topic starts with one of PREFIXES (all by default).

    Waits for the broker when there is none (saying so once on stderr); Ctrl-C or SIGTERM
    ends it with exit 0.
    """
    from homelab import reading

    for prefix in prefixes:
        _check_prefix(prefix)
    s = settings.load(bus=bus)
    bus_keys.use(s, bus_keys.CLI)
    return reading.tap(s, prefixes, since, as_json)


@cli.command()
@click.option(
    "--from", "start", type=SEQ_OR_TIME, help="First SEQ or TIME (default: the beginning)."
)
@click.option("--to", "end", type=SEQ_OR_TIME, help="Last SEQ or TIME (default: the end).")
@click.option(
    "--topic", "prefixes", multiple=True, help="Only topics starting with PREFIX (repeatable)."
)
@json_lines_option
@root_option
def replay(start, end, prefixes, as_json, root) -> int:
    """Print messages from the event log on disk; needs no running broker.

    Reads compressed segments too. A range that starts before the history retention kept
    says where it begins, on stderr. Exit 1 when the range holds no message (e.g. --from
    beyond the end of the log), 2 when it cannot hold any (--from after --to).
    """
    from homelab import reading

    for prefix in prefixes:
        _check_prefix(prefix)
    try:
        return reading.replay(settings.load(root=root), start, end, prefixes, as_json)
    except reading.NothingInRange as err:
        click.echo(f"homelab: {err}", err=True)
        return 1
    except Trimmed as err:  # retention deleted what was being read: say so, like a gap
        click.echo(f"homelab: error: {err}; run again to read what is left", err=True)
        return 1


@cli.command()
@click.argument("topic")
@click.option("--data", default="{}", help="The payload: a JSON object [{}].")
@click.option("--id", "msg_id", help="Message id; resending the same id stores it once.")
@click.option(
    "--source",
    default="emit",
    help="Who sends it [emit]; the control plane's own names (broker, observer, agent:...) "
    "are refused.",
)
@click.option(
    "--timeout",
    type=BUS_TIMEOUT,
    default=10.0,
    help="Seconds to wait for the broker [10].",
)
@bus_option
def emit(topic, data, msg_id, source, timeout, bus) -> int:
    """Publish one message, wait until it is durable, and print its sequence number."""
    user_input.envelope_heads(topic, msg_id, source)
    payload = user_input.payload(data)
    user_input.encoded_size(topic, msg_id, source, payload)
    s = settings.load(bus=bus)
    bus_keys.use(s, bus_keys.CLI)
    with client.Publisher(s.bus, source, timeout=timeout) as publisher:
        click.echo(publisher.publish(topic, payload, id=msg_id))
    return 0


@cli.command()
@json_option
@root_option
@bus_option
@click.option(
    "--timeout", type=BUS_TIMEOUT, default=3.0, help="Seconds to wait for the broker [3]."
)
def status(as_json: bool, root: str | None, bus: str | None, timeout: float) -> int:
    """Show nodes and services with their health, and the bus.

    Exit 1 if the broker is down, 2 if there is no data root. A world the observer has not
    written yet is said in red, not in the exit status: the broker's container health check
    runs this command before the observer (which waits for that check) has started.
    """
    from actors.readmodel import summary
    from homelab import render

    s = settings.load(root=root, bus=bus)
    path = DataRoot(s.root).require().path
    bus_keys.use(s, bus_keys.CLI)
    report = summary.read(path, s.bus, timeout)
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        render.status(report.model_dump(mode="json"))
    return 0 if report.bus.reachable else 1


@cli.command("check-inventory")
@click.option("--repo", type=click.Path(), help="The repository [env HOMELAB_REPO; .].")
@click.option("--schema", is_flag=True, help="Print the inventory's JSON Schema instead.")
def check_inventory(repo: str | None, schema: bool) -> int:
    """Validate the repository's inventory; each problem is printed as FILE:LINE: message."""
    from actors.domain import inventory, inventory_files

    if schema:
        click.echo(json.dumps(inventory.json_schema(), indent=2, sort_keys=True))
        return 0
    s = settings.load(repo=repo)
    folder = Path(s.repo or ".")
    found, problems = inventory_files.check(folder)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in the inventory at {folder}", err=True)
        return 1
    assert found is not None
    click.echo(f"inventory OK: {len(found.nodes)} node(s), {len(found.services)} service(s)")
    return 0


@cli.command()
@click.option("--node", help="The node to probe, as named in the inventory [env HOMELAB_NODE].")
@click.option(
    "--refresh",
    type=Seconds(0, 86400),
    help="Seconds after which an unchanged result is sent in full anyway; until then the "
    "heartbeat names it (0: every result in full) [env HOMELAB_AGENT_REFRESH; 600].",
)
@click.option(
    "--repo",
    type=click.Path(),
    help="The inventory repository [env HOMELAB_REPO]; without one, the agent follows its "
    "node's desired state from the bus (a node with no checkout) and keeps the last in ROOT.",
)
@root_option
@bus_option
@click.option(
    "--key",
    type=click.Path(),
    help="This agent's secret key file, from `homelab keys add agent NODE` on the control "
    "plane [env HOMELAB_KEY; default: the key folder].",
)
@click.option(
    "--broker-key",
    type=click.Path(),
    help="The broker's public key file (broker.key) [env HOMELAB_BROKER_KEY].",
)
def agent(node, refresh, repo, root, bus, key, broker_key) -> int:
    """Run the probes of one node and publish what they see: a result when it changes, a
    heartbeat naming the checks that found the same otherwise. With no repository (another
    machine), it probes by its node's slice of the desired state, sent by the supervisor."""
    from actors import agent as agent_module
    from homelab import service_logging

    given = {"key": key, "broker_key": broker_key, "agent_refresh": refresh}
    s = settings.load(node=node, repo=repo, root=root, bus=bus, **given)
    node = _node(s.node)
    remote = s.repo is None
    slice_file = _agent_root(s.root, node) if remote else None
    if not remote:
        layout.ensure(s.root)
    service_logging.setup(s.root, f"agent-{node}")
    bus_keys.use(s, f"agent:{node}")
    stop = service_logging.stop_flag()
    if remote:
        logging.getLogger("homelab.agent").info(
            "no repository: following the desired state of %s from %s", node, s.bus
        )
    elif not rootcheck.wait_for_own_broker(s.root, s.bus, stop, agent=True):
        return 0
    args = (s.repo, node, s.bus, stop, s.agent_refresh, slice_file)
    return diskwait.run(s.root, "agent", functools.partial(agent_module.run, *args), stop)


def _node(node: str | None) -> str:
    """The agent's node name, checked (it names files too)."""
    if not node:
        raise click.UsageError("which node? give --node NAME or set HOMELAB_NODE")
    try:
        keys.check_role(f"agent:{node}")  # a name as the inventory allows: also a file name
    except ValueError:
        raise click.BadParameter(
            f"{node!r}: a node's name is a-z, 0-9, _ and -, at most 63 characters",
            param_hint="--node",
        ) from None
    return node


def _agent_root(root: Path, node: str) -> Path:
    """The folders an agent with no repository writes (its logs, its slice), made; the
    file it keeps its slice in. Not a whole data root: this machine runs no broker."""
    data = DataRoot(root)
    path = data.agent_slice(node)
    try:
        for folder in (data.service_log("agent").parent, path.parent):
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise layout.RootError(
            f"cannot write to {root}: {err.strerror or err} (set --root or HOMELAB_ROOT to a "
            "folder this agent may write, e.g. its systemd StateDirectory)"
        ) from None
    return path


@cli.command()
@root_option
@bus_option
def observer(root, bus) -> int:
    """Fold observations into the world state under world/, checkpointing as it goes."""
    from actors import observer as observer_module
    from homelab import service_logging

    s = settings.load(root=root, bus=bus)
    service_logging.setup(layout.ensure(s.root), "observer")
    bus_keys.use(s, "service:observer")
    stop = service_logging.stop_flag()
    if not rootcheck.wait_for_own_broker(s.root, s.bus, stop):
        return 0
    work = functools.partial(observer_module.run, s.root, s.bus, stop)
    return diskwait.run(s.root, "observer", work, stop)


@cli.command()
@repo_option
@root_option
@bus_option
@click.option(
    "--approval-ttl",
    type=float,
    help="Seconds a pending action or an approval stays valid [env HOMELAB_APPROVAL_TTL; 86400].",
)
@click.option(
    "--give-up-after",
    type=int,
    help="Fixes without effect before it gives up on a drift [env HOMELAB_GIVE_UP_AFTER; 3].",
)
def supervisor(repo, root, bus, approval_ttl, give_up_after) -> int:
    """Compare the repository with the world and recommend fixes, live."""
    from actors import supervisor as supervisor_module
    from homelab import service_logging

    s = settings.load(
        repo=repo, root=root, bus=bus, approval_ttl=approval_ttl, give_up_after=give_up_after
    )
    if s.repo is None:
        raise click.UsageError("where is the inventory? give --repo or set HOMELAB_REPO")
    service_logging.setup(layout.ensure(s.root), "supervisor")
    bus_keys.use(s, "service:supervisor")
    stop = service_logging.stop_flag()
    if not rootcheck.wait_for_own_broker(s.root, s.bus, stop):
        return 0
    work = functools.partial(
        supervisor_module.run, s.root, Path(s.repo), s.bus, stop, s.approval_ttl, s.give_up_after
    )
    return diskwait.run(s.root, "supervisor", work, stop)


@cli.command()
@json_option
@repo_option
@root_option
def drift(as_json, repo, root) -> int:
    """Show where the world differs from the repository and what would fix it.

        Exit 0 when nothing managed drifts, 1 when something does (like `argocd app diff`), 2
        when it cannot tell: an invalid inventory, no world yet, or a declared service not
        observed yet. Computes the report itself from the repository and the observer's files, as
    the supervisor does live (the UI shows the supervisor's): needs no running service.
    """
    from actors.readmodel import drift as drift_model
    from homelab import drift_report

    try:
        s = settings.load(repo=repo, root=root)
        report = drift_model.read(s.root, Path(s.repo or "."))
    except InventoryError as err:
        for problem in err.problems:
            click.echo(str(problem), err=True)
        click.echo(f"homelab: error: {len(err.problems)} problem(s) in the inventory", err=True)
        return 2
    except (HomelabError, FileNotFoundError) as err:
        click.echo(f"homelab: error: {err}", err=True)
        return 2  # whatever it was, not 1: that means drift
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        drift_report.show(report)
    return report.exit_code


@cli.command()
@repo_option
@root_option
@bus_option
@click.option("--timeout", type=float, default=300.0, help="Seconds an action may run [300].")
@click.option(
    "--parallel",
    type=click.IntRange(1, 16),
    default=2,
    help="Actions run at once, one per target [2].",
)
def executor(repo, root, bus, timeout, parallel) -> int:
    """Run approved actions through the allowlisted drivers, at most once each."""
    from actors import executor as executor_module
    from homelab import service_logging

    s = settings.load(repo=repo, root=root, bus=bus)
    if s.repo is None:
        raise click.UsageError(
            "the executor checks each action against the inventory: give --repo or set HOMELAB_REPO"
        )
    service_logging.setup(layout.ensure(s.root), "executor")
    bus_keys.use(s, "service:executor")
    stop = service_logging.stop_flag()
    if not rootcheck.wait_for_own_broker(s.root, s.bus, stop):
        return 0
    work = functools.partial(
        executor_module.run,
        s.root,
        s.bus,
        stop,
        timeout=timeout,
        parallel=parallel,
        repo=Path(s.repo),
    )
    return diskwait.run(s.root, "executor", work, stop)


@cli.group()
def actions() -> None:
    """The action queue: list, show, approve, reject."""


@actions.command("list")
@json_option
@root_option
def actions_list(as_json, root) -> int:
    """Actions, pending first."""
    from homelab import actions_cli

    actions_cli.show_list(settings.load(root=root).root, as_json)
    return 0


@actions.command("show")
@click.argument("action_id")
@json_option
@root_option
def actions_show(action_id, as_json, root) -> int:
    """One action: what it runs, its whole history, and its output."""
    from homelab import actions_cli

    actions_cli.show_one(settings.load(root=root).root, action_id, as_json)
    return 0


by_option = click.option(
    "--by", help="Who decides [env HOMELAB_OPERATOR, else $USER].", default=None
)


@actions.command("approve")
@click.argument("action_id")
@by_option
@root_option
@bus_option
def actions_approve(action_id, by, root, bus) -> int:
    """Approve a pending action: exactly what `show` displays will run, once."""
    s = settings.load(root=root, bus=bus)
    queue.check_id(action_id)
    root_path = DataRoot(s.root).require().path
    bus_keys.use(s, f"operator:{_operator(by)}")
    click.echo(decisions.decide(root_path, s.bus, action_id, "approve", _operator(by), ""))
    return 0


@actions.command("reject")
@click.argument("action_id")
@click.option("--reason", default="", help="Why (kept in the action's history).")
@by_option
@root_option
@bus_option
def actions_reject(action_id, reason, by, root, bus) -> int:
    """Reject a pending action."""
    s = settings.load(root=root, bus=bus)
    queue.check_id(action_id)
    root_path = DataRoot(s.root).require().path
    bus_keys.use(s, f"operator:{_operator(by)}")
    click.echo(decisions.decide(root_path, s.bus, action_id, "reject", _operator(by), reason))
    return 0


def _operator(by: str | None) -> str:
    name = by or os.environ.get("HOMELAB_OPERATOR") or os.environ.get("USER") or "operator"
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(name) > 64:
        raise click.BadParameter(f"{name!r} is not a name", param_hint="--by")
    return name


def _check_prefix(prefix: str) -> None:
    if (
        not prefix
        or len(prefix) > envelope.MAX_TOPIC_CHARS
        or not prefix.isascii()
        or " " in prefix
    ):
        raise click.BadParameter(f"{prefix!r} is not a topic prefix (e.g. obs. or world.node)")
