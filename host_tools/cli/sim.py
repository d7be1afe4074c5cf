"""earshot sim: run a virtual board until stopped; later commands reach it as --port sim (the
one started without --name) or --port sim:NAME.

Its first output line is `serial: /dev/pts/N`. While it runs it is registered by name
(host_tools.sim.runs), and `earshot press/play/pins/power` act on it through its control socket.
"""

import os
import re
import signal
import time

from .common import Number


def setup(p):
    p.add_argument("--name", default="default",
                   help="name of this virtual board: --port sim:NAME reaches it, and it keeps "
                        "its own flash (default: default, which bare --port sim reaches)")
    p.add_argument("--flash", metavar="DIR",
                   help="flash directory, created and marked by earshot sim (default: "
                        "~/.cache/earshot/sim/NAME; $EARSHOT_HOME/sim/NAME if set)")
    p.add_argument("--erase", action="store_true",
                   help="start with an empty flash (only a flash directory earshot sim created "
                        "is ever erased)")
    p.add_argument("--deploy", action="store_true", help="deploy the firmware once it is up")
    p.add_argument("--wake-word", metavar="NAME",
                   help="with --deploy: the one wake-word model the board loads (default: alexa)")
    p.add_argument("--test-mode", action="store_true",
                   help="with --deploy: enable the audio-feed command (for earshot hil)")
    p.add_argument("--board", default="virtual",
                   help="board file the virtual board pretends to be (default: virtual)")
    p.add_argument("--heap", default="320K", metavar="SIZE",
                   help="MicroPython heap, like the board's RAM: 320K, 2M ... (default: 320K: "
                        "the firmware holds about 222K on a 64-bit PC in test mode, docs/boards.md)")
    p.add_argument("--link", metavar="PATH", help="also keep a symlink to the serial device here")
    p.add_argument("--download-mode", action="store_true",
                   help="start in the ESP32-S3 ROM serial bootloader (BOOT held), for esptool")
    p.add_argument("--play", metavar="WAV", action="append", default=[],
                   help="play a 16 kHz mono WAV (or sample:speech ...: earshot play --help) into "
                        "the microphone after start (repeatable)")
    p.add_argument("--rig", metavar="HOST:PORT",
                   help="also serve its buttons, power, reset line and pin probe over HTTP, as a "
                        "network relay box next to a real board (for a labgrid exporter, "
                        "docs/hil-rig.md); port 0 picks a free one")
    p.add_argument("--renumerate", action="store_true",
                   help="after a hard reset or a power cycle the serial port comes back under a "
                        "new name, as a board on native USB may on Linux; --port sim:NAME and "
                        "--link follow it")
    p.add_argument("--clock-start", metavar="MS", default=0,
                   type=Number(int, 0, (1 << 62) - 1, of="milliseconds"),
                   help="board time at power-on in ms; ticks_ms() wraps at 1073741824 (2**30), "
                        "so e.g. 1073700000 crosses the wrap 42 s after boot")
    p.add_argument("--ideal-serial", action="store_true",
                   help="serial writes cost no board time (default: the ESP32-S3's UART0 "
                        "mirror and USB CDC, see the README)")


def run(args):
    from ..board import files
    from ..board.build import DEFAULT_WAKE_WORD, wake_word_model
    from ..errors import EarshotError, UsageError
    from ..sim import VirtualBoard
    from ..sim import runs
    from ..sim.unix_port import parse_heap
    from ..sim.control import ControlServer
    from ..sim.rig_http import RigServer
    from ..sim.world import read_pcm
    from ..resources import sound
    from .common import Progress

    parse_heap(args.heap)  # wrong input fails before anything is created or started
    plays = [(wav, read_pcm(sound(wav))) for wav in args.play]
    if args.link and not os.path.isdir(os.path.dirname(os.path.abspath(args.link))):
        raise EarshotError("cannot make --link %s: there is no folder %s"
                           % (args.link, os.path.dirname(os.path.abspath(args.link))))
    if args.wake_word is not None and not args.deploy:
        raise UsageError("--wake-word needs --deploy (it chooses the model deployed)")
    wake_word = wake_word_model(args.wake_word or DEFAULT_WAKE_WORD)[0]
    rig_addr = _host_port(args.rig) if args.rig else None
    files.load(args.board)
    flash_root = args.flash or runs.default_flash(args.name)
    # what reaches it whatever else runs (sim/runs.py find): bare sim is the unnamed one
    reach = "sim" if args.name == runs.DEFAULT_NAME else "sim:" + args.name
    say = Progress()
    # labgrid and friends stop a process with SIGTERM, and a shell script's `earshot sim &`
    # starts with SIGINT ignored: both stop the board as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    registration = runs.Registration(args.name)
    try:
        fs = runs.prepare_flash(flash_root)
        with VirtualBoard(flash_dir=fs, erase=args.erase, heap=args.heap, board=args.board,
                          link=args.link, download_mode=args.download_mode,
                          clock_start_ms=args.clock_start, renumerate=args.renumerate,
                          serial_cost=not args.ideal_serial) as board:
            serial_log = board.tap()
            print("serial: %s" % board.port, flush=True)
            if args.link:
                say("link: %s -> %s" % (args.link, board.port))
            say("name: %s (reach it with --port %s)" % (args.name, reach))
            say("flash: %s" % flash_root)
            control = ControlServer(board, board.runtime_dir / "control.sock")
            rig = RigServer(control, *rig_addr) if rig_addr else None
            if rig:
                say("rig: %s (buttons, power, reset line and pin probe over HTTP)" % rig.url)
            published = dict(control=control.path, board=args.board, flash=str(flash_root),
                             download_mode=args.download_mode, rig=rig.url if rig else None)
            registration.publish(port=board.port, **published)

            def renumerated(port):
                registration.publish(port=port, **published)  # --port sim:NAME finds it
                say("serial: %s (the port came back under a new name)" % port)

            board.on_port = renumerated
            if args.download_mode:
                say("download mode: esptool --chip esp32s3 --port %s --before no-reset ..."
                    % board.port)
            else:
                board.wait_booted()
            if args.deploy:
                try:
                    shown = Progress(prefix="deploy: ")
                    board.deploy(test_mode=args.test_mode, progress=shown,
                                 file_progress=shown.files, wake_word=wake_word)
                except EarshotError as e:
                    raise EarshotError("%s%s" % (e, _board_said(serial_log))) from None
            board.untap(serial_log)
            for wav, pcm in plays:
                end = board.play(pcm)
                say("play: %s (ends at board time %.1f s)" % (wav, end))
            say("running: earshot status|press|play|pins --port %s; Ctrl-C stops it" % reach)
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                say("sim: stopped")
            if rig:
                rig.close()
            control.close()
    finally:
        registration.close()
    return 0


def _host_port(text):
    from ..errors import EarshotError

    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise EarshotError("--rig %s: give HOST:PORT, e.g. 127.0.0.1:0 (0 picks a free port)"
                           % text)
    return host, int(port)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _board_said(serial_log):
    """The last error the board printed on its serial port, to say why deploying failed."""
    text = bytes(serial_log).decode("utf-8", "replace")
    errors = re.findall(r"^(\w+Error: [^\r\n]*)", text, re.M)
    if not errors:
        return ""
    hint = " (try a bigger --heap)" if errors[-1].startswith("MemoryError") else ""
    return "; the board printed: %s%s" % (errors[-1], hint)
