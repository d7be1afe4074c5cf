"""Every test gets its own receiver history (host_tools/records/history.py), so what one test's
`earshot verify`, `record` or `log` remembers never leaks into another, or into the user's."""

import pytest


@pytest.fixture(autouse=True)
def _own_receiver_history(tmp_path, monkeypatch):
    monkeypatch.setenv("EARSHOT_HISTORY", str(tmp_path / "receiver-history.json"))
