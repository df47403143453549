"""Behind a proxy under a sub-path: the public URL an operator pastes (with its sub-path) is
accepted and reduced to the origin a browser sends; the login keeps the way back, query
included. (The whole flow through nginx: tests/browser/test_behind_nginx.py.)"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from gui.app import allowed_origins, login_redirect
from gui.config import UiConfig
from homelab import settings


def test_a_public_url_with_a_sub_path_is_accepted_as_its_origin(monkeypatch):
    monkeypatch.setenv("HOMELAB_PUBLIC_URL", "https://proxy.example.ts.net/homelab/")
    assert settings.load().public_urls == ("https://proxy.example.ts.net",)
    config = UiConfig(
        root=Path("/x"),
        bus="tcp://127.0.0.1:1",
        public_urls=("https://proxy.example.ts.net/homelab/", "https://proxy.example.ts.net"),
    )
    assert allowed_origins(config) == [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "https://proxy.example.ts.net",
    ]


def test_the_login_leads_back_to_the_page_and_its_query():
    where = urlsplit(login_redirect("/events", "seq=5&topic=action."))
    assert where.path == "/login"
    assert parse_qs(where.query) == {"redirect_to": ["/events?seq=5&topic=action."]}
    assert login_redirect("/actions") == "/login?redirect_to=%2Factions"


@pytest.mark.parametrize(
    ("typed", "origin"),
    [
        ("HTTPS://UI.Lab.Example:443/", "https://ui.lab.example"),
        ("http://UI.lab.example:80", "http://ui.lab.example"),
        ("https://ui.lab.example:8443/homelab/", "https://ui.lab.example:8443"),
        ("http://[::1]:80/", "http://[::1]"),
    ],
)
def test_a_public_url_is_the_origin_a_browser_sends(typed, origin):
    """Capitals and a default port are how people type URLs, never how browsers send them."""
    assert settings.public_url(typed) == origin


def test_trusted_proxies_are_addresses_or_networks(monkeypatch):
    monkeypatch.setenv("HOMELAB_UI_TRUSTED_PROXIES", "172.18.0.0/16, 10.0.0.5")
    assert settings.load().trusted_proxies == ("172.18.0.0/16", "10.0.0.5/32")
    monkeypatch.setenv("HOMELAB_UI_TRUSTED_PROXIES", "npm")
    with pytest.raises(settings.SettingsError, match="HOMELAB_UI_TRUSTED_PROXIES.*'npm'"):
        settings.load()


def test_settings_compose_leaves_empty_are_unset(monkeypatch):
    monkeypatch.setenv("HOMELAB_SUMMARY_TOKEN", "")
    monkeypatch.setenv("HOMELAB_UI_SECRET", "")
    monkeypatch.setenv("HOMELAB_UI_TRUSTED_PROXIES", "")
    loaded = settings.load()
    assert loaded.summary_token is None and loaded.ui_secret is None
    assert loaded.trusted_proxies == ()  # believe no forwarded header at all


def test_pages_are_registered_only_through_the_page_decorator_that_checks_the_login():
    """The login check of a page load lives in one place (``gui.pages.page``)."""
    gui = Path(__file__).resolve().parents[2] / "gui"
    direct = [
        str(path.relative_to(gui))
        for path in gui.rglob("*.py")
        if "ui.page(" in path.read_text() and path != gui / "pages" / "__init__.py"
    ]
    assert direct == []
