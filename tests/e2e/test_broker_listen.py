"""The broker listens on several addresses at once (``HOMELAB_LISTEN``): loopback for the
control plane's own services and a tailnet address for remote agents. Here the second is
another loopback address, 127.0.0.2, as a second network would be."""

from __future__ import annotations

import pytest

from bus import client
from plant import BrokerProcess, free_port_pair

pytestmark = pytest.mark.slow


def test_a_message_published_on_one_address_is_read_on_the_other(root):
    port, other = free_port_pair(), free_port_pair()
    second = f"tcp://127.0.0.2:{other}"
    listen = f"tcp://127.0.0.1:{port}, {second}"
    broker = BrokerProcess(root, port, "--listen", listen).start()
    try:
        assert client.ping(second, timeout=5)["seq"] == client.ping(broker.endpoint)["seq"]
        with client.Subscriber(second, "remote.", since=1) as subscriber:
            with client.Publisher(broker.endpoint, "tester") as publisher:
                seq = publisher.publish("remote.hello", {"n": 1})
            message = subscriber.get(timeout=10)
        assert message is not None and (message.seq, message.payload) == (seq, {"n": 1})
    finally:
        broker.stop()


def test_a_bad_address_among_several_is_one_line_and_nothing_listens(root):
    port = free_port_pair()
    broker = BrokerProcess(root, port, "--listen", f"tcp://127.0.0.1:{port},tcp://nowhere")
    broker.start(wait=False)
    assert broker.proc is not None and broker.proc.wait(30) == 1  # as for one bad address
    said = broker.output().strip().splitlines()
    assert said == ["homelab: error: bad bus endpoint 'tcp://nowhere': expected tcp://HOST:PORT"]
