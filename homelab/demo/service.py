"""A tiny service manager for the demo's services: ``start`` (detached, returns once the port
answers), ``stop``, ``status``, and the servers themselves (HTTP or TCP on loopback).

    python -m homelab.demo.service start --name demo-web --kind http --port 18081 --dir D
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import socket
import socketserver
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="homelab.demo.service")
    parser.add_argument("command", choices=["start", "stop", "status", "serve"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--kind", choices=["http", "tcp"], default="http")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where pid files live")
    parser.add_argument("--version", default="1.0")
    args = parser.parse_args(argv)
    pid_file = args.dir / f"{args.name}.pid"
    if args.command == "serve":
        return serve(args.kind, args.port, args.name, args.version)
    if args.command == "status":
        return 0 if _running(pid_file) else 3
    if args.command == "stop":
        return stop(pid_file)
    return start(args, pid_file)


def start(args: argparse.Namespace, pid_file: Path) -> int:
    if _running(pid_file):
        print(f"{args.name} is already running")
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "homelab.demo.service",
        "serve",
        "--name",
        args.name,
        "--kind",
        args.kind,
        "--port",
        str(args.port),
        "--dir",
        str(args.dir),
        "--version",
        args.version,
    ]
    with open(args.dir / f"{args.name}.log", "ab") as out:
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    pid_file.write_text(str(child.pid))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            print(f"{args.name} exited with code {child.returncode}", file=sys.stderr)
            return 1
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=0.2).close()
            print(f"{args.name} started (pid {child.pid}, port {args.port})")
            return 0
        except OSError:
            time.sleep(0.05)
    print(f"{args.name} did not open port {args.port} within {START_TIMEOUT:g} s", file=sys.stderr)
    return 1


def stop(pid_file: Path) -> int:
    pid = _pid(pid_file)
    if pid is not None and _ours(pid, pid_file.parent):
        _end(pid)
    pid_file.unlink(missing_ok=True)
    return 0


def stop_all(folder: Path) -> list[int]:
    """Stop every demo service whose pid files live in ``folder``, and any server of that
    folder without one (a start cut short): what ``homelab up --demo`` does as it exits.
    Returns the pids it stopped."""
    pids = {p for f in folder.glob("*.pid") if (p := _pid(f)) is not None and _ours(p, folder)}
    pids |= set(_servers_of(folder))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in pids:
        _end(pid)
    for pid_file in folder.glob("*.pid"):
        pid_file.unlink(missing_ok=True)
    return sorted(pids)


def _end(pid: int) -> None:
    """SIGTERM, then SIGKILL after 5 s."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> list[str] | None:
    """The process's argv (Linux), or None where /proc cannot tell."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None


def _ours(pid: int, folder: Path) -> bool:
    """A live demo server of ``folder``: not another process that got a recycled pid."""
    if not _alive(pid):
        return False
    argv = _cmdline(pid)
    return argv is None or ("homelab.demo.service" in argv and str(folder) in argv)


def _servers_of(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        argv = _cmdline(int(entry.name))
        if argv and "homelab.demo.service" in argv and "serve" in argv and str(folder) in argv:
            found.append(int(entry.name))
    return [pid for pid in found if pid != os.getpid()]


def serve(kind: str, port: int, name: str, version: str) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if kind == "tcp":
        server: socketserver.TCPServer = socketserver.TCPServer(("127.0.0.1", port), _Echo)
    else:
        handler = type("Handler", (_Page,), {"body": f"{name} {version} ok\n".encode()})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    with server:
        server.serve_forever()
    return 0


class _Page(http.server.BaseHTTPRequestHandler):
    body = b"ok\n"

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(2)
        try:
            self.request.sendall(self.request.recv(1024))
        except OSError:
            pass


def _pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def _running(pid_file: Path) -> bool:
    return running_pid(pid_file) is not None


def running_pid(pid_file: Path) -> int | None:
    """The pid of the live demo server that ``pid_file`` names, else None."""
    pid = _pid(pid_file)
    return pid if pid is not None and _ours(pid, pid_file.parent) else None


if __name__ == "__main__":
    sys.exit(main())
