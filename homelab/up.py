"""``homelab up``: every service of this machine as a supervised child process."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from types import ModuleType

from actors.domain import inventory_files
from bus import broker, client, durable
from bus.dataroot import DataRoot
from homelab import bus_keys, layout, procs, rootcheck, ui_cli
from homelab.settings import Settings

LOCAL_ADDRESSES = {"127.0.0.1", "localhost", "::1"}
UP_LOCK = DataRoot(Path()).up_lock  # relative to the root
UI_READY_TIMEOUT = 30.0  # NiceGUI takes a few seconds to import on a small machine
DEMO_OPERATOR = "demo"


def specs(
    settings: Settings, repo: Path | None, node: str | None, ui: bool = True
) -> list[procs.ServiceSpec]:
    base = (sys.executable, "-m", "homelab")
    common = ("--root", str(settings.root), "--bus", settings.bus)
    services = [
        procs.ServiceSpec(
            "broker",
            (*base, "broker", *common),
            ready=lambda: _own_broker_answers(settings.root, settings.bus),
        ),
        procs.ServiceSpec("observer", (*base, "observer", *common)),
    ]
    if repo is not None and node is not None:
        services.append(
            procs.ServiceSpec(
                f"agent-{node}", (*base, "agent", "--node", node, "--repo", str(repo), *common)
            )
        )
    if repo is not None:
        services.append(
            procs.ServiceSpec("supervisor", (*base, "supervisor", "--repo", str(repo), *common))
        )
    if repo is not None:
        services.append(
            procs.ServiceSpec("executor", (*base, "executor", "--repo", str(repo), *common))
        )
    if ui:
        services.append(ui_spec(settings))
    return services


def ui_spec(settings: Settings) -> procs.ServiceSpec:
    """The UI, last: ready once it answers HTTP. Its public URLs and secret reach it through
    the environment it inherits (a secret on a command line is visible to every user)."""
    argv = [sys.executable, "-m", "homelab", "ui", "--root", str(settings.root)]
    argv += ["--bus", settings.bus, "--host", settings.ui_host, "--port", str(settings.ui_port)]
    url = ui_cli.url(settings.ui_host, settings.ui_port)
    return procs.ServiceSpec(
        "ui", tuple(argv), ready=lambda: ui_cli.answers(url), ready_timeout=UI_READY_TIMEOUT
    )


def local_node(settings: Settings, repo: Path | None) -> str | None:
    """This machine's node: HOMELAB_NODE, else the inventory's node on a loopback address
    or named like this host."""
    if settings.node or repo is None:
        return settings.node
    inventory, _ = inventory_files.check(repo)
    if inventory is None:
        return None
    for name, node in sorted(inventory.nodes.items()):
        if node.address in LOCAL_ADDRESSES or name == socket.gethostname().lower():
            return name
    return None


def run(
    settings: Settings,
    demo: bool = False,
    ui: bool = True,
    chaos_every: float | None = None,
) -> int:
    """Start every service, broker first, and supervise them until Ctrl-C or SIGTERM.
    With ``chaos_every`` (demo only), kill a demo service about that often.

    Refuses (StartupError, before any child starts) when another ``up`` runs on the root
    or the bus ports or the UI's port are taken."""
    if chaos_every is not None and not demo:
        raise ValueError("chaos needs the demo")
    root = layout.ensure(settings.root)
    lock = hold_lock(root)
    try:
        check_ports_free(settings.listen_endpoint)
        if ui:
            ui_cli.check_port_free(settings.ui_host, settings.ui_port)
        procs.log_to_stderr()
        if not demo:
            return _run(settings, root, None, ui, None)
        from homelab.demo import setup

        try:
            return _run(settings, root, setup, ui, chaos_every)
        finally:
            stopped = setup.stop_services(root)
            if stopped:
                procs.log.info("stopped %d demo service(s)", len(stopped))
    finally:
        os.close(lock)


def _run(
    settings: Settings,
    root: Path,
    demo_setup: ModuleType | None,
    ui: bool,
    chaos_every: float | None,
) -> int:
    repo = Path(settings.repo) if settings.repo else None
    if demo_setup is not None:
        repo = demo_setup.prepare(root)
    node = local_node(settings, repo)
    if node is None:
        procs.log.info("no inventory node for this machine: no local agent (set HOMELAB_NODE)")
    bus_keys.prepare(settings, node)  # the broker's and every local service's, unasked
    bus_keys.use(settings, bus_keys.CLI)  # for its own pings of the broker
    login = (
        demo_login(root, bus_keys.folder_if_on(settings)) if ui and demo_setup is not None else None
    )
    hint = demo_setup.login_hint(root, DEMO_OPERATOR) if ui and demo_setup and not login else ""
    # The children's own output (a crash's traceback, say) goes beside their logs, not into
    # them: logs/up/<service>.log.
    group = procs.ProcessGroup(specs(settings, repo, node, ui), DataRoot(root).up_logs)
    tick = None
    if chaos_every is not None and repo is not None:
        from homelab import chaos

        tick = chaos.Chaos(repo, DataRoot(root).demo_services, chaos_every).tick
    shown = Screen(
        settings, root, repo, ui, login, chaos_every, demo=demo_setup is not None, hint=hint
    )
    try:
        return group.run(on_started=lambda: shown.show(group), on_tick=tick)
    except procs.StartupError:
        shown.login_if_unseen()  # made for this run: its only chance to be seen
        raise


def demo_login(root: Path, keys_folder: Path | None = None) -> str | None:
    """For the demo, make operator ``demo`` (with its bus key, in ``keys_folder``) if there
    is no operator at all and return its password (shown this once; only its hash and the
    sealed key are kept); None when operators exist."""
    from gui import auth
    from homelab.demo import setup

    try:
        return setup.demo_operator(root, DEMO_OPERATOR, keys_folder)
    except auth.AuthError as err:  # a damaged operators file
        raise procs.StartupError(str(err)) from None


class Screen:
    """The one screen ``up`` prints once everything runs: what runs where."""

    def __init__(
        self,
        settings: Settings,
        root: Path,
        repo: Path | None,
        ui: bool,
        login: str | None,
        chaos_every: float | None,
        *,
        demo: bool = False,
        hint: str = "",
    ) -> None:
        """``login``: the demo operator's password, made for this run (shown once);
        ``hint``: how to log in when it was made before."""
        self.settings, self.root, self.repo, self.ui = settings, root, repo, ui
        self.login, self.chaos_every, self.demo, self.hint = login, chaos_every, demo, hint
        self.shown = False

    def ui_line(self) -> str:
        line = f"UI: {ui_cli.url(self.settings.ui_host, self.settings.ui_port)}"
        if self.login is not None:
            line += (
                f"  login: {DEMO_OPERATOR} / {self.login} (shown once; change it with "
                f"`homelab ui add-user {DEMO_OPERATOR}`)"
            )
        elif self.hint:
            line += f"  {self.hint}"
        return line

    def text(self, pids: dict[str, int | None], out_dir: Path) -> str:
        width = max(len(name) for name in pids)
        lines = [f"running {len(pids)} services (Ctrl-C or SIGTERM stops them all):"]
        for name, pid in pids.items():
            shown = str(pid) if pid is not None else "restarting"
            lines.append(f"  {name:<{width}}  pid {shown:>7}  {out_dir / name}.log")
        lines.append(f"  {self.ui_line()}" if self.ui else "  UI: not started (--no-ui)")
        lines.append(f"  data root: {self.root}")
        lines.append(f"  bus: {self.settings.bus}")
        edit = " (the demo's: a git repository you can edit)" if self.demo else ""
        lines.append(
            f"  inventory: {self.repo if self.repo is not None else 'none (--repo)'}{edit}"
        )
        lines.append(
            f"  logs: {self.root / 'logs'}/<service>.log; what each child printed: "
            f"{out_dir}/<service>.log"
        )
        if self.chaos_every is not None:
            lines.append(f"  chaos: kills a demo service every ~{self.chaos_every:g} s")
        return "\n".join(lines)

    def show(self, group: procs.ProcessGroup) -> None:
        procs.log.info("%s", self.text(group.pids(), group.log_dir))
        self.shown = True

    def login_if_unseen(self) -> None:
        if self.login is not None and not self.shown:
            procs.log.info("%s", self.ui_line())


def hold_lock(root: Path) -> int:
    """Lock ``state/up.lock`` for this process's lifetime (it holds our pid), or refuse."""
    path = root / UP_LOCK
    fd = durable.lock_exclusive(path)
    if fd is None:
        holder = path.read_text(errors="replace").strip()[:32] or "?"
        raise procs.StartupError(
            f"another `homelab up` (pid {holder}) is running on {root.resolve()}"
        )
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def check_ports_free(endpoint: str) -> None:
    """Bind the broker's two ports (PORT, PORT + 1) for a moment, or refuse."""
    host, port = broker.split_endpoint(endpoint)
    for p in (port, port + 1):
        procs.claim_port(
            host,
            p,
            f"port {p} is taken (by another program or another control plane): "
            "set HOMELAB_BUS (or --bus) to another port",
        )


def _own_broker_answers(root: Path, endpoint: str) -> bool:
    """Ready once the broker answers, and it must be ours: another root's broker (one that
    took the port after the check) is a StartupError, not something to wait out."""
    try:
        pong = client.ping(endpoint, timeout=0.5)
    except client.BusError:
        return False
    try:
        rootcheck.check(root, endpoint, pong)
    except rootcheck.WrongBroker as err:
        raise procs.StartupError(str(err)) from None
    return True
