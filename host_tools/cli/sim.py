"""earshot sim: run a virtual board until interrupted; its first output line is the port."""

import sys
import time


def setup(p):
    p.add_argument("--link", metavar="PATH", help="also keep a symlink to the serial device here")
    p.add_argument("--erase", action="store_true", help="start with an empty flash")
    p.add_argument("--flash", metavar="DIR", help="flash directory (default: ~/.cache/earshot/sim-flash)")
    p.add_argument("--heap", default="256K", help="MicroPython heap, like the board's RAM (default 256K)")
    p.add_argument("--board", default="virtual", help="board file the virtual board pretends to be")
    p.add_argument("--deploy", action="store_true", help="deploy the firmware once it is up")
    p.add_argument("--download-mode", action="store_true",
                   help="start in the ESP32-S3 ROM serial bootloader (BOOT held), for esptool")
    p.add_argument("--play", metavar="WAV", action="append", default=[],
                   help="play WAV into the microphone after start (repeatable)")
    p.add_argument("--clock-start", metavar="MS", type=_ms, default=0,
                   help="board time at power-on in ms; ticks_ms() wraps at 1073741824 (2**30), "
                        "so e.g. 1073700000 crosses the wrap 42 s after boot")
    p.add_argument("--ideal-serial", action="store_true",
                   help="serial writes cost no board time (default: the ESP32-S3's UART0 "
                        "mirror and USB CDC, see the README)")


def _ms(text):
    from ..errors import EarshotError

    try:
        value = int(text)
    except ValueError:
        raise EarshotError("--clock-start wants whole milliseconds, not %r" % text) from None
    if not 0 <= value < 1 << 62:
        raise EarshotError("--clock-start must be 0 or more milliseconds")
    return value


def run(args):
    from ..sim import VirtualBoard
    from ..sim.board import default_flash_dir

    flash = args.flash or default_flash_dir()
    with VirtualBoard(flash_dir=flash, erase=args.erase, heap=args.heap, board=args.board,
                      link=args.link, download_mode=args.download_mode,
                      clock_start_ms=args.clock_start,
                      serial_cost=not args.ideal_serial) as board:
        print("serial: %s" % board.port, flush=True)
        if args.link:
            print("link: %s -> %s" % (args.link, board.port), flush=True)
        print("flash: %s" % board.flash_dir, flush=True)
        if args.download_mode:
            print("download mode: esptool --chip esp32s3 --port %s --before no-reset ..."
                  % board.port, flush=True)
        if args.deploy:
            board.deploy(progress=lambda m: print("deploy: " + m, flush=True))
        for wav in args.play:
            end = board.play(wav)
            print("play: %s (ends at board time %.1f s)" % (wav, end), flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            print("sim: stopped", file=sys.stderr)
    return 0
