"""course_lib.network: one bound for every wait on the network, read from the environment."""

import socket
import time

import pytest

from course_lib import network
from course_lib.errors import CourseError


def test_the_bound_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.delenv(network.VARIABLE, raising=False)
    assert network.timeout() == network.DEFAULT_TIMEOUT == 30
    monkeypatch.setenv(network.VARIABLE, "2.5")
    assert network.timeout() == 2.5
    for text in ("0", "-1", "soon", "nan", "inf"):
        monkeypatch.setenv(network.VARIABLE, text)
        with pytest.raises(CourseError, match=r"\$COURSE_NETWORK_TIMEOUT .* must be a number > 0"):
            network.timeout()


def test_a_socket_without_its_own_timeout_gives_up_on_a_silent_server(monkeypatch, silent_server):
    monkeypatch.setenv(network.VARIABLE, "0.3")
    with network.bounded_sockets():
        connection = socket.create_connection(silent_server)
        started = time.perf_counter()
        with pytest.raises(TimeoutError), connection:
            connection.recv(1)
        assert time.perf_counter() - started < 5
    assert socket.getdefaulttimeout() is None
