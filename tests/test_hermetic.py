"""The test session itself: no user STROKESEQ_* variables, no network."""

from __future__ import annotations

import os
import socket

import pytest


def test_user_strokeseq_variables_are_cleared():
    mine = {"STROKESEQ_PUBLIC_MIRRORS", "STROKESEQ_DATA_DIR"}
    assert {n for n in os.environ if n.startswith("STROKESEQ_")} == mine
    assert os.environ["STROKESEQ_PUBLIC_MIRRORS"] == "0"


@pytest.mark.parametrize("address", [("10.0.0.1", 80), ("192.0.2.1", 443)])
def test_network_is_refused(address):
    with socket.socket() as s, pytest.raises(OSError, match="may not use the network"):
        s.connect(address)


def test_name_lookups_of_other_hosts_are_refused():
    with pytest.raises(OSError, match="may not use the network"):
        socket.getaddrinfo("example.com", 80)


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
