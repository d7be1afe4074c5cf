"""deploy's one mpremote session (host_tools/board/deploy.py mpremote_lines): Ctrl-C, whenever
it lands, stops mpremote and leaves nothing that keeps earshot from exiting."""

import subprocess
import sys
import threading

import pytest

from host_tools.board import deploy

LONG_COPY = [sys.executable, "-c", "import time; print('cp a.py :a.py', flush=True); "
             "time.sleep(120)"]


@pytest.fixture
def copying(monkeypatch):
    """mpremote stood in for by a copy that prints one file and then takes its time."""
    children = []
    real = subprocess.Popen

    def popen(argv, **kw):
        children.append(real(LONG_COPY, **kw))
        return children[-1]
    monkeypatch.setattr(deploy.subprocess, "Popen", popen)
    return children


def test_ctrl_c_while_the_timeout_timer_starts_leaves_no_timer_and_no_mpremote(copying,
                                                                            monkeypatch):
    # The Ctrl-C a user sends the moment `deploy: copying` appears can land while the main
    # thread waits in Timer.start() for the new thread to run (a busy machine makes that
    # wait long). The timer had been armed for the whole timeout, as a non-daemon thread.
    timers, start = [], threading.Timer.start

    def start_then_ctrl_c(self):
        timers.append(self)
        start(self)
        raise KeyboardInterrupt
    monkeypatch.setattr(threading.Timer, "start", start_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        deploy.mpremote_lines("sim:x", ["reset"], 600, lambda line: None)
    (timer,) = timers
    timer.join(5)
    assert not timer.is_alive(), "a timer armed for 600 s outlives the interrupted copy"
    assert timer.daemon  # and were one ever left, it would not hold up the interpreter's exit
    assert copying[0].poll() is not None  # mpremote is not left writing to the board


def test_ctrl_c_mid_copy_stops_mpremote_and_the_timer(copying):
    seen = []

    def on_line(line):
        seen.append(line)
        raise KeyboardInterrupt
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        deploy.mpremote_lines("sim:x", ["reset"], 600, on_line)
    assert seen == ["cp a.py :a.py\n"] and copying[0].poll() is not None
    for t in set(threading.enumerate()) - before:
        t.join(5)
        assert not t.is_alive()


def test_past_the_timeout_mpremote_is_killed_and_its_lines_come_back(copying):
    code, lines = deploy.mpremote_lines("sim:x", ["reset"], 0.5, lambda line: None)
    assert code != 0 and lines == ["cp a.py :a.py"]


def test_copy_advances_per_file_as_mpremote_prints_them_and_names_its_last_line(tmp_path,
                                                                              monkeypatch):
    import contextlib

    image = tmp_path / "image"
    (image / "earshot").mkdir(parents=True)
    (image / "earshot" / "a.py").write_text("A = 1\n")
    (image / "main.py").write_text("import earshot\n")
    monkeypatch.setattr(deploy, "interrupt", lambda port: None)
    monkeypatch.setattr(deploy, "board_files", lambda port: ({}, set()))
    real, argv_seen = subprocess.Popen, []

    def popen(argv, **kw):
        argv_seen.append(argv)
        return real([sys.executable, "-c", "print('cp x :earshot/a.py'); print('cp y :main.py');"
                     " print('mpremote: failed to access sim:x'); raise SystemExit(1)"], **kw)
    monkeypatch.setattr(deploy.subprocess, "Popen", popen)
    landed, totals = [], []

    @contextlib.contextmanager
    def file_progress(total):
        totals.append(total)
        yield landed.append

    with pytest.raises(deploy.EarshotError) as e:
        deploy.copy("sim:x", image, lambda msg: None, file_progress=file_progress)
    assert totals == [2] and landed == ["earshot/a.py", "main.py"]
    assert str(e.value) == "copying to sim:x failed (mpremote: mpremote: failed to access sim:x)"
    # main.py is copied last, so a copy cut short never boots new code with old modules
    assert [a for a in argv_seen[0] if a.startswith(":")][-2:] == [":earshot/a.py", ":main.py"]
