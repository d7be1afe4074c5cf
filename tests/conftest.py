"""Every test gets its own earshot home (virtual-board registry, default flash), its own
receiver history (host_tools/records/history.py) and no $EARSHOT_PORT, so tests never see each
other's, or the developer's, running `earshot sim` or remembered sessions.
The board fixtures are the behaviour suite's plugin, host_tools.hil.fixtures."""

import signal

import pytest


def pytest_configure(config):
    # A shell starts a background job (`make test &`, a campaign under nohup) with SIGINT
    # ignored, and every program the tests start inherits that: `earshot` would then ignore
    # the Ctrl-C the tests send it. A handler here is reset to the default in each child at
    # exec, so the commands under test meet Ctrl-C as in a terminal.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def earshot_home(tmp_path, monkeypatch):
    home = tmp_path / "earshot-home"
    monkeypatch.setenv("EARSHOT_HOME", str(home))
    monkeypatch.setenv("EARSHOT_HISTORY", str(tmp_path / "receiver-history.json"))
    monkeypatch.delenv("EARSHOT_PORT", raising=False)
    monkeypatch.delenv("EARSHOT_KEY_FILE", raising=False)
    return home
