"""Who is logged in, checked again by every handler that changes something: NiceGUI's
websocket never passes through the HTTP middleware, so a page that stays open after a logout
(in another tab) must not be able to act."""

from __future__ import annotations

from nicegui import Client, app, ui

from gui import auth


def operator(operators: auth.Operators) -> str | None:
    """The logged-in operator, if the session has one and they are still an operator."""
    name = app.storage.user.get("operator")
    if not isinstance(name, str):
        return None
    try:
        return name if name in operators.names() else None
    except auth.AuthError:
        return None


def require(operators: auth.Operators) -> str | None:
    """The operator, or None after sending this tab to the login page."""
    name = operator(operators)
    if name is None:
        ui.notify("Your session has ended: log in again.", type="warning")
        ui.navigate.to("/login")
    return name


def log_in(name: str) -> None:
    app.storage.user.update(operator=name)


def log_out() -> None:
    """End the session in every tab of this browser: the storage is shared, and each open
    tab is sent to the login page."""
    browser = app.storage.browser.get("id")
    app.storage.user.clear()
    for client in list(Client.instances.values()):
        try:
            same = client.request.session.get("id") == browser
        except Exception:  # noqa: BLE001 - a client without a request is not a tab of ours
            continue
        if same and client.has_socket_connection:
            with client:
                ui.navigate.to("/login")
