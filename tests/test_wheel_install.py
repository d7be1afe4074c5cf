"""`pip install .` (not editable) gives a working earshot outside the checkout.

The wheel is built from the repository's files, installed into a fresh venv, and used from
another directory: the demo, `earshot sim --deploy`, `earshot deploy --test-mode` and
`earshot hil`. The firmware, board files, models, audio and behaviour suite must all be in the
wheel for that to work. To stay fast the venv gets no dependencies of its own: a .pth file
points at this suite's site-packages (which has no copy of host_tools: the checkout is installed
in editable mode, and .pth files there are not processed from a .pth path).
"""

import os
import queue
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd, **kw):
    kw.setdefault("timeout", 180)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def build_wheel(tmp):
    src = tmp / "src"
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    r = run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
             "-w", str(tmp / "dist"), str(src)])
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("earshot-*.whl")
    return wheel


def make_venv(tmp, wheel):
    venv = tmp / "venv"
    r = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert r.returncode == 0, r.stderr
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    Path(site.stdout.strip(), "suite-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    r = run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
             "--no-index", str(wheel)])
    assert r.returncode == 0, r.stderr[-2000:]
    return venv


def test_the_installed_wheel_runs_the_demo_the_virtual_board_deploy_and_hil(tmp_path):
    venv = make_venv(tmp_path, build_wheel(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The Unix port's launcher comes from the suite's venv (a dependency, not our package).
    env = dict(os.environ, PATH="%s:%s:%s" % (venv / "bin", Path(sys.executable).parent,
                                              os.environ.get("PATH", "")),
               XDG_CACHE_HOME=str(tmp_path / "cache"), EARSHOT_PORT="")
    env.pop("PYTHONPATH", None)
    python, earshot = str(venv / "bin" / "python"), str(venv / "bin" / "earshot")

    r = run([python, "-c", "import host_tools; print(host_tools.__file__)"], cwd=elsewhere, env=env)
    assert r.stdout.startswith(str(venv)), r.stdout + r.stderr  # not the checkout

    r = run([python, "-m", "host_tools.demo"], cwd=elsewhere, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "wake word 'alexa'" in r.stdout and "chain verified" in r.stdout

    sim = subprocess.Popen([earshot, "sim", "--deploy", "--flash", str(tmp_path / "flash")],
                           cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    try:
        lines = read_until(sim, "running:", timeout=120)
        assert lines[0].startswith("serial: ")
        r = run([earshot, "deploy", "--port", "sim", "--test-mode"], cwd=elsewhere, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        # A person arms test mode (earshot hil never resets a board to arm it: docs/hil-rig.md).
        r = run([earshot, "power", "cycle", "--hold", "action", "--port", "sim"], cwd=elsewhere,
                env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        r = run([earshot, "hil", "--port", "sim", "-k", "bad_input"], cwd=elsewhere, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "1 passed   0 failed" in r.stdout
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=30)


def read_until(proc, needle, timeout):
    """Lines of `proc` up to the first containing `needle` (a reader thread: select() on a
    buffered pipe misses lines already read into Python's buffer)."""
    lines = queue.Queue()
    def read():
        for line in proc.stdout:
            lines.put(line.rstrip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError("no %r from earshot sim in %ss: %s" % (needle, timeout, seen))


def test_the_package_never_imports_the_tests_package():
    # An installed earshot has no tests/; before, the detector benchmarks (wakeword/score.py)
    # imported tests.mpy and would fail with ModuleNotFoundError outside the checkout.
    import ast

    root = Path(__file__).resolve().parent.parent / "host_tools"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            offenders += ["%s:%d" % (path, node.lineno) for n in names
                          if n == "tests" or n.startswith("tests.")]
    assert offenders == []
