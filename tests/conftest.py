"""Every test gets its own earshot home (virtual-board registry, default flash), its own
receiver history (host_tools/records/history.py) and no $EARSHOT_PORT, so tests never see each
other's, or the developer's, running `earshot sim` or remembered sessions.
The board fixtures are the behaviour suite's plugin, host_tools.hil.fixtures."""

import pytest


@pytest.fixture(autouse=True)
def earshot_home(tmp_path, monkeypatch):
    home = tmp_path / "earshot-home"
    monkeypatch.setenv("EARSHOT_HOME", str(home))
    monkeypatch.setenv("EARSHOT_HISTORY", str(tmp_path / "receiver-history.json"))
    monkeypatch.delenv("EARSHOT_PORT", raising=False)
    monkeypatch.delenv("EARSHOT_KEY_FILE", raising=False)
    return home
