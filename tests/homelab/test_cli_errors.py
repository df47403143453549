"""Every error worded for the operator derives from ``bus.errors.HomelabError`` and carries
its exit status: ``homelab`` prints it in one line and exits with it, whatever the layer
that raised it."""

from __future__ import annotations

import pytest

from actors import decisions
from actors.domain.inventory_files import InventoryError
from actors.observer import ObserverError
from actors.readmodel import drift, queue, timespec
from bus import broker, client, envelope, records
from bus.dataroot import NoDataRoot
from bus.errors import HomelabError
from homelab import layout, procs, settings, ui_cli, user_input


@pytest.mark.parametrize(
    "error, status",
    [
        (client.BusError, 1),
        (client.BusUnavailable, 1),
        (envelope.DecodeError, 1),
        (broker.BrokerError, 1),
        (records.CorruptLog, 1),
        (layout.RootError, 1),
        (settings.SettingsError, 1),
        (timespec.TimeSpecError, 1),
        (procs.StartupError, 1),
        (ui_cli.OperatorsError, 1),
        (InventoryError, 1),
        (ObserverError, 1),
        (decisions.Refused, 1),
        (queue.NoSuchAction, 1),
        (user_input.InputError, 2),
        (NoDataRoot, 2),
        (queue.BadActionId, 2),
        (drift.NoWorld, 2),
    ],
)
def test_each_error_for_the_operator_carries_its_exit_status(error, status):
    assert issubclass(error, HomelabError)
    assert error.exit_code == status


@pytest.mark.parametrize("status", [1, 2, 3])
def test_the_cli_prints_any_such_error_in_one_line_and_exits_with_its_status(
    homelab, one_line, monkeypatch, status
):
    class Odd(HomelabError):
        exit_code = status

    def refuse(**_):
        raise Odd("the reason, worded for people")

    monkeypatch.setattr(settings, "load", refuse)
    ran = homelab("status")
    assert ran.code == status
    assert one_line(ran.err) == "homelab: error: the reason, worded for people"
