"""The model loader refuses models outside the premises of the detector's int32 proofs."""

import json
import shutil

import numpy as np
import pytest

from host_tools.wakeword import model as M
from host_tools.hil.fixtures import boot_board, connect
from tests.mpy import run_mpy

EXTRA = {"word": "test", "smooth": 5, "threshold": 700, "refractory": 10, "score_max": 1270}


def _save(d, name, qm, edit_manifest=None, edit_blob=None):
    b, j = d / (name + ".bin"), d / (name + ".json")
    M.save(b, j, qm, EXTRA)
    if edit_manifest:
        man = json.loads(j.read_text())
        edit_manifest(man)
        j.write_text(json.dumps(man))
    if edit_blob:
        blob = bytearray(b.read_bytes())
        edit_blob(blob, json.loads(j.read_text()))
        b.write_bytes(bytes(blob))
    return b, j


def _layer(name, key, ch, value):
    def edit(qm):
        qm["layers"][name][key][ch] = value
    return edit


def _model(edit=None):
    qm = M.random_model(seed=1, channels=16)
    for layer in qm["layers"]:
        for k in ("m", "s", "b"):
            layer[k] = np.array(layer[k], dtype=np.int64)
    if edit:
        edit(qm)
    return qm


def _move(name, delta):
    def edit(man):
        man["tensors"][name][0] += delta
    return edit


def _resize(name, delta):
    def edit(man):
        man["tensors"][name][1] += delta
    return edit


def _poke(tensor, index, value):
    def edit(blob, man):
        blob[man["tensors"][tensor][0] + index] = value
    return edit


REFUSED = {  # name: (model edit, manifest edit, blob edit, the reason the loader gives)
    "m_512": (_layer(2, "m", 3, 512), None, None, "l2_q channel 3: multiplier M 512 > 511"),
    "s_0": (_layer(0, "s", 0, 0), None, None, "l0_q channel 0: shift S 0 outside 1..30"),
    "s_31": (_layer(9, "s", 0, 31), None, None, "l9_q channel 0: shift S 31 outside 1..30"),
    "bias_high": (_layer(4, "b", 5, 2**19 + 1), None, None,
                  "l4_q channel 5: bias 524289 outside +-2^19"),
    "bias_low": (_layer(1, "b", 0, -2**19 - 1), None, None,
                 "l1_q channel 0: bias -524289 outside +-2^19"),
    "unaligned": (None, _move("l3_q", 2), None, "tensor l3_q at offset"),
    "past_end": (None, _move("l9_q", 400), None, "tensor l9_q (8 bytes at"),
    "short_tensor": (None, _resize("l2_w", -4), None, "tensor l2_w has 252 bytes, its shape needs 256"),
    "mel_band": (None, None, _poke("mel_seg", 40, 33), "mel band 33 at bin 40"),
    "mel_weight": (None, None, _poke("mel_w", 41, 17), "mel weight 17 at bin 41"),
    "channels": (None, lambda m: m.update(channels=6), None, "channels (6) and bands (32)"),
    "window": (None, lambda m: m["features"].update(win=256), None,
               "features win is 256, the board's frontend needs 512"),
}

ACCEPTED = {  # the bounds themselves are inside
    "m_511": (_layer(2, "m", 3, 511), None, None, None),
    "s_1_and_30": (lambda qm: (_layer(0, "s", 0, 1)(qm), _layer(9, "s", 0, 30)(qm)), None, None, None),
    "bias_edges": (lambda qm: (_layer(4, "b", 5, 2**19)(qm), _layer(1, "b", 0, -2**19)(qm)),
                   None, None, None),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("bounds")
    out = {}
    for name, (edit, edit_man, edit_blob, _) in {**REFUSED, **ACCEPTED}.items():
        out[name] = _save(d, name, _model(edit), edit_man, edit_blob)
    return out


@pytest.fixture(scope="module")
def board_verdicts(models):
    """What the firmware's Detector says about each model, in one Unix-port run."""
    code = """
from earshot.wakeword import Detector, ModelError
for name, b, j in %r:
    try:
        Detector(b, j)
        print(name + "|ok")
    except ModelError as e:
        print(name + "|" + str(e))
""" % [(n, str(b), str(j)) for n, (b, j) in models.items()]
    return dict(line.split("|", 1) for line in run_mpy(code).splitlines())


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_board_refuses_a_model_outside_the_int32_proof_with_the_reason(board_verdicts, models, name):
    verdict = board_verdicts[name]
    assert verdict != "ok"
    assert REFUSED[name][3] in verdict
    assert verdict.startswith(str(models[name][0]))  # names the file


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_board_accepts_a_model_on_the_bounds(board_verdicts, name):
    assert board_verdicts[name] == "ok"


def test_score_command_refuses_the_same_model_in_one_line(models, capsys):
    from host_tools.cli import main
    b, _ = models["m_512"]
    assert main(["wakeword", "score", "--model", str(b), str(b)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("earshot: ") and "multiplier M 512 > 511" in err
    assert err.count("\n") == 1


def test_board_with_a_refused_model_runs_without_a_wake_word(firmware_image, models, tmp_path):
    flash = tmp_path / "flash"
    shutil.copytree(firmware_image, flash)
    for p in (flash / "models").iterdir():
        p.unlink()
    b, j = models["bias_high"]
    shutil.copy(b, flash / "models" / "test.bin")
    shutil.copy(j, flash / "models" / "test.json")
    with boot_board(firmware_image, tmp_path) as board:
        board.wait_booted()
        client = connect(board.port)
        try:
            status = client.command("status")
            assert status["wake_word"] is None
            assert "muted" in status  # the application runs and answers
        finally:
            client.close()
