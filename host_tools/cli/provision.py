"""earshot provision: give a board its device id and a fresh 32-byte signing key.

The key file is checked before the board is touched and written only once the board has the
key; an existing key file is never overwritten without --replace-key-file. Replacing a board's
key needs both buttons held together on the board: the command waits for it with a countdown;
stopped meanwhile (Ctrl-C, SIGTERM) it withdraws the request on the board and exits 130.
"""

from .common import Countdown, add_history_argument, add_json_argument, add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--device-id", metavar="ID",
                   help="the board's name in sessions and the log: 1-64 letters, digits, '.', "
                        "'_' or '-' (default: earshot-<6 random hex digits>)")
    p.add_argument("--key-file", metavar="FILE",
                   help="where to keep the key; it must not exist yet (default: "
                        "keys/<device id>.key in the current directory)")
    p.add_argument("--replace-key-file", action="store_true",
                   help="overwrite --key-file if it exists (its old key is lost)")
    add_json_argument(p, "the device id and key file")
    add_history_argument(p)  # a device id another board already signs with is refused


def run(args):
    from ..board.provision import provision
    from .common import print_json
    from .stopping import requester, terminate_as_interrupt

    countdown = Countdown(quiet=args.json)
    try:
        with terminate_as_interrupt():
            device_id, path, outcome = provision(args.port, args.device_id, args.key_file,
                                                 args.replace_key_file, countdown, requester(),
                                                 history=args.history)
    finally:
        countdown.finish()
    if args.json:
        print_json({"device_id": device_id, "key_file": str(path),
                    "confirmed_on_board": outcome == "applied"})
    else:
        print("provisioned %s%s; key kept in %s (earshot record and verify need it)" % (
            device_id, " (new key confirmed on the board)" if outcome else "", path))
    return 0
