"""The data root's layout: every path under ``HOMELAB_ROOT`` named once, for every layer
(docs/operations.md, "Where things are", tells operators). Everything else asks
``DataRoot`` for paths.

    root = DataRoot(Path("/opt/homelab"))
    root.events, root.action_file("a-1c9e..."), root.checkpoint

``require`` is what a reader calls first: a missing or wrong root is an error, never an empty
answer ("nothing observed", "no drift", "no actions").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bus import errors

FOLDERS = (  # what `homelab init` creates
    "events",
    "world",
    "state",
    "logs",
    "logs/actions",
    "actions",
    "inbox",
    "inbox/done",
    "inbox/rejected",
)  # logs/up/ and ui/ are made by `homelab up` and the UI when they first need them


class NoDataRoot(errors.HomelabError):
    """The folder is not a data root: one line saying what to set."""

    exit_code = errors.BAD_INPUT


@dataclasses.dataclass(frozen=True)
class DataRoot:
    path: Path

    def require(self) -> DataRoot:
        """This root if it is one (a folder with an event log); NoDataRoot if not."""
        if not self.path.is_dir():
            raise NoDataRoot(f"no data root at {self.path} (set HOMELAB_ROOT or --root)")
        if not self.events.is_dir():
            raise NoDataRoot(
                f"no event log at {self.events}: is {self.path} the data root? "
                "(set HOMELAB_ROOT or --root; `homelab init` creates one)"
            )
        return self

    # the bus: the event log and the inbox
    @property
    def events(self) -> Path:
        return self.path / "events"

    @property
    def inbox(self) -> Path:
        return self.path / "inbox"

    @property
    def keys(self) -> Path:
        """The bus's CURVE keys and allowlist (``bus.keys``), unless HOMELAB_KEYS says."""
        return self.path / "keys"

    @property
    def holds(self) -> Path:
        """What consumers still need of the log (``bus.retention``): one file each."""
        return self.path / "state" / "holds"

    @property
    def history(self) -> Path:
        """The broker's account of the log's history: retention, compression, size."""
        return self.path / "state" / "history.json"

    def agent_slice(self, node: str) -> Path:
        """An agent with no repository: the last slice of the desired state it had."""
        return self.path / "state" / "agent" / f"desired-{node}.json"

    # the observer's world and checkpoint
    @property
    def world(self) -> Path:
        return self.path / "world"

    @property
    def checkpoint(self) -> Path:
        return self.path / "state" / "observer_checkpoint.json"

    @property
    def snapshots(self) -> Path:
        """World snapshots the observer rebuilds from once retention trimmed the log."""
        return self.path / "state" / "snapshots"

    @property
    def observer_lock(self) -> Path:
        return self.path / "state" / "observer.lock"

    # the supervisor's state and what `homelab status` shows of it
    @property
    def supervisor_state(self) -> Path:
        return self.path / "state" / "supervisor.json"

    @property
    def desired(self) -> Path:
        return self.path / "state" / "desired.json"

    @property
    def drift(self) -> Path:
        return self.path / "state" / "drift.json"

    # the action queue and the actions' output
    @property
    def actions(self) -> Path:
        return self.path / "actions"

    def action_file(self, action_id: str) -> Path:
        return self.actions / f"{action_id}.json"

    def action_log(self, action_id: str) -> Path:
        return self.action_logs / f"{action_id}.log"

    @property
    def action_logs(self) -> Path:
        return self.path / "logs" / "actions"

    # `homelab up`, this root's identity, diagnostics
    @property
    def up_lock(self) -> Path:
        return self.path / "state" / "up.lock"

    @property
    def up_logs(self) -> Path:
        return self.path / "logs" / "up"

    @property
    def root_id(self) -> Path:
        return self.path / "state" / "root-id"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def service_log(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    # the demo (`homelab up --demo`)
    @property
    def demo_repo(self) -> Path:
        return self.path / "demo-repo"

    @property
    def demo_services(self) -> Path:
        return self.path / "demo-services"

    @property
    def demo_ports(self) -> Path:
        return self.path / "state" / "demo-ports.json"

    # the UI's operators and secret

    @property
    def operators(self) -> Path:
        return self.path / "ui" / "operators.json"

    @property
    def session_secret(self) -> Path:
        return self.path / "ui" / "session_secret"
