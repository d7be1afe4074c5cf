"""earshot play WAV: play a 16 kHz mono WAV into a running virtual board's microphone."""

from .common import add_json_argument, add_sim_port_argument


def setup(p):
    p.add_argument("wav", metavar="WAV",
                   help="16 kHz mono 16-bit WAV (or raw 16-bit PCM), or a clip earshot ships: "
                        "sample:speech, sample:alexa, sample:hey_jarvis")
    p.add_argument("--wait", action="store_true",
                   help="return once the board has heard all of it (default: once it is queued)")
    p.add_argument("--live", action="store_true",
                   help="as a person says it: heard no faster than real time, so a dashboard "
                        "shows the session while it lasts (default: as fast as the board reads)")
    add_sim_port_argument(p)
    add_json_argument(p, "its length and the sim time it ends")


def run(args):
    import base64

    from ..link.target import resolve_sim
    from ..resources import sound
    from ..sim.control import request
    from ..sim.world import read_pcm
    from .common import print_json

    pcm = read_pcm(sound(args.wav))  # a bad file fails here, before the board is reached
    info = resolve_sim(args.port)
    r = request(info, "play", pcm=base64.b64encode(pcm).decode(), wait=args.wait,
                live=args.live, timeout=len(pcm) / 32000 * 4 + 60)
    if args.json:
        print_json({"wav": args.wav, "seconds": r["seconds"], "ends_at_s": r["ends_at_s"]})
    else:
        print("%s %s: %.2f s of audio, until sim time %.2f s" % (
            "played" if args.wait else "queued", args.wav, r["seconds"], r["ends_at_s"]))
    return 0
