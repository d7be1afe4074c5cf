"""The errors a port really raises reach the household's page as household phrases
(host_tools/vocabulary.py link_words): each raw error below is produced the way the dashboard
meets it (opening and greeting the port with the same client), never typed in by hand, and
each must map to its own phrase, not the catch-all, with nothing technical in it."""

import os
import socket

import pytest
import serial

from host_tools.errors import EarshotError
from host_tools.link.client import Client
from host_tools.vocabulary import link_words

RAW = ("/dev/", "://", "errno", "repl", "pts", "could not", "pyserial", "socket", "tty")


def _raised(port):
    try:
        with Client(port, timeout=2.0) as c:
            c.hello()
    except EarshotError as e:
        return str(e)
    raise AssertionError("%s opened and answered" % port)


def _closed_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def _check(error, expect):
    words = link_words(error)
    assert expect in words, (error, words)
    assert not any(raw in words.lower() for raw in RAW), words


def test_a_port_another_program_holds(tmp_path):
    master, slave = os.openpty()
    port = os.ttyname(slave)
    holder = serial.Serial(port, exclusive=True)  # mpremote, a monitor, esptool...
    try:
        _check(_raised(port), "another program on this computer is using")
    finally:
        holder.close()
        os.close(master)
        os.close(slave)


def test_a_device_that_is_not_there():
    _check(_raised("/dev/ttyACM97"), "unplugged, switched off or out of reach")


def test_a_network_address_nobody_answers():
    _check(_raised("socket://127.0.0.1:%d" % _closed_tcp_port()),
           "unplugged, switched off or out of reach")


def test_a_file_this_user_may_not_open(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may open any file: no permission error to meet")
    path = tmp_path / "ttyX"
    path.write_text("")
    path.chmod(0)
    _check(_raised(str(path)), "does not let the page use")


def test_a_line_where_nothing_answers():
    # A pseudo-terminal nobody answers on: silence, said as such.
    master, slave = os.openpty()
    try:
        _check(_raised(os.ttyname(slave)), "not running its Earshot software")
    finally:
        os.close(master)
        os.close(slave)
