"""The dashboard's Bus card: the broker's sequence and rate, its alarms, the clients it
holds to their limit, its clock's last step, and the messages per second over the last two
minutes; all from its ``bus.stats`` ticks."""

from __future__ import annotations

from nicegui import background_tasks, ui

from actors.domain import topics
from actors.readmodel import summary
from actors.readmodel.models import BusStatus
from bus.envelope import Message
from gui import offload, present, theme
from gui.components.dashboard_cards import linked_card
from gui.feed import Feed


class BusCard:
    """The broker's sequence and rate, live from its ``bus.stats`` (the sequence moves at
    every tick), and the messages per second over the last two minutes; "unreachable" as
    soon as the ticks stop coming and the broker does not answer."""

    LOOK_EVERY = 2.0  # seconds between looks for a silent broker

    def __init__(self, feed: Feed, endpoint: str, first: BusStatus):
        self.feed, self.endpoint = feed, endpoint
        with linked_card("/events", "Bus", wide=True):
            with ui.row().classes("gap-4 items-baseline"):
                self.seq = ui.label().mark("bus-seq").props("data-testid=bus-seq")
                self.rate = ui.label().mark("bus-rate")
            self.alarms = ui.label().classes("text-sm " + theme.health("down")).mark("alarm")
            self.alarms.props("data-testid=bus-alarm")
            self.limited = ui.label().classes("text-xs " + theme.health("degraded"))
            self.clock = ui.label().classes("text-xs " + theme.health("degraded")).mark("clock")
            ui.label("Messages per second").classes("text-xs opacity-70")
            RateChart(feed)
        self.show(first)
        feed.subscribe(self.on_message)
        ui.timer(self.LOOK_EVERY, self.look)

    def show(self, bus: BusStatus) -> None:
        if bus.reachable:
            self.seq.set_text(f"seq {bus.seq}")
            self.seq.classes(remove=theme.health("down"))
            self.rate.set_text(f"{bus.rate:g} msg/s")
        else:
            self.seq.set_text("unreachable")
            self.seq.classes(add=theme.health("down"))
            self.rate.set_text("")
        self.alarms.set_text("; ".join(present.alarm(a) for a in bus.alarms))
        self.clock.set_text(present.clock_step((bus.model_extra or {}).get("clock_step")))
        self.limited.set_text(present.limited_clients((bus.model_extra or {}).get("clients")))

    def on_message(self, message: Message) -> None:
        if message.topic == topics.BUS_ALARM:  # during an alarm the ticks are rare: ask now
            background_tasks.create(self.ask(), name="bus card")
        elif message.topic == topics.BUS_STATS:
            status = self.feed.bus_status()
            if status is not None:
                self.show(status)

    async def look(self) -> None:
        if self.feed.bus_status() is None:  # silent: ask the broker itself
            await self.ask()

    async def ask(self) -> None:
        self.show(await offload.io_bound(summary.bus_status, self.endpoint, 1.0))


async def bus_status(feed: Feed, endpoint: str) -> BusStatus:
    """The broker's figures: from the feed's latest tick, else by asking it (1 s at most)."""
    latest = feed.bus_status()
    return (
        latest if latest is not None else await offload.io_bound(summary.bus_status, endpoint, 1.0)
    )


class RateChart:
    """The messages per second, from the ticks seen before this page opened on."""

    def __init__(self, feed: Feed):
        self.rates = present.RateSeries()
        for message in feed.recent_trusted():
            self.rates.add(message)
        self.chart = ui.echart(rate_options(self.rates)).classes("w-full h-40").mark("rate-chart")
        feed.subscribe(self.on_message)

    def on_message(self, message: Message) -> None:
        if self.rates.add(message):  # one point more, the chart element stays
            self.chart.options["xAxis"]["data"] = self.rates.labels
            self.chart.options["series"][0]["data"] = self.rates.values
            self.chart.update()


def rate_options(series: present.RateSeries) -> dict:
    return {
        "animation": False,
        "grid": {"left": 40, "right": 10, "top": 10, "bottom": 24},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": series.labels, "boundaryGap": False},
        "yAxis": {"type": "value", "name": "msg/s", "minInterval": 1},
        "series": [{"type": "line", "data": series.values, "showSymbol": False, "name": "msg/s"}],
    }
