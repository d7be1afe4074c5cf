# Host commands (docs/protocol.md): one handler per command, looked up in COMMANDS.
# A handler validates all of its input before it changes anything; a bad command gets an error
# reply and the board carries on (no handler can raise out of the protocol loop).
import binascii

from micropython import const

from earshot import gate
from earshot.playcmd import play
from earshot.consent import NEEDS_CONFIRMATION, UNCHANGED, preset_name

_KEY_BYTES = const(32)
_MAX_DEVICE_ID = const(64)
_MAX_BY = const(80)  # characters of a request's `by`: the computer as it names itself


def handle(app, item, now):
    """item: (seq, cmd dict) or (seq, None, framing error) from proto.CommandReader."""
    seq = item[0]
    cmd = item[1]
    if cmd is None:
        app.reply_error(seq, item[2])
        return
    name = cmd["cmd"]
    handler = COMMANDS.get(name)
    if handler is None:
        app.reply_error(seq, "unknown command %r" % name)
        return
    try:
        handler(app, seq, cmd, now)
    except (ValueError, TypeError, KeyError) as e:
        app.reply_error(seq, "bad %s command: %s" % (name, e))
    except Exception as e:  # noqa: BLE001 - a host's bytes never stop the board
        # Anything else (a full flash, MemoryError, a bug) is this command's failure only.
        app.reply_error(seq, "%s failed on the board: %s" % (name, type(e).__name__))


def status(app, seq, cmd, now):
    app.reply(seq, **app.status())


def mute(app, seq, cmd, now):
    # A host may make the board more private, never less.
    app.close_session("mute")
    app.mute.apply(True, "host")
    app.reply(seq, muted=True)


def unmute(app, seq, cmd, now):
    app.reply_error(seq, "only the mute button on the board unmutes")


def stop(app, seq, cmd, now):
    was_open = app.gate.state == gate.OPEN
    app.close_session("host_stop")
    app.reply(seq, stopped=was_open)


def consent(app, seq, cmd, now):
    c = app.consent
    if "guest" in cmd:
        if not isinstance(cmd["guest"], bool):
            raise ValueError("guest must be true or false")
        flags, guest = c.state_dict()["flags"], cmd["guest"]
    elif "preset" in cmd:
        flags, guest = c.target(cmd["preset"])
    else:
        app.reply(seq, result=UNCHANGED, consent=app.describe_consent())
        return
    if c.widens(flags, guest):
        # Less private: only the household, at the board, can allow it.
        refused = app.ask_confirmation("consent", preset_name(flags, guest), (flags, guest), seq,
                                       now, requester(cmd))
        if refused:
            app.reply_error(seq, refused)
            return
        app.reply(seq, result=NEEDS_CONFIRMATION, seconds=app.confirmation.seconds_left(now),
                  consent=app.describe_consent())
        return
    result = c.apply(flags, guest, "host", now)
    if app.confirmation.kind == "consent":
        # Asking for what is already in force (or for less) answers a waiting request "no".
        app.cancel_confirmation("superseded", by_host=True)
    app.reply(seq, result=result, consent=app.describe_consent())


def cancel(app, seq, cmd, now):
    # A host withdraws a request (an interrupted `earshot consent set` or `provision`): more
    # private, so any host may. With `re`, only the request that command number made.
    re = cmd.get("re")
    if re is not None and not isinstance(re, int):
        raise ValueError("re must be a command number")
    c = app.confirmation
    done = None
    if re is None or c.seq == re:
        done = app.cancel_confirmation("withdrawn", by_host=True)
    app.reply(seq, cancelled=done is not None)


def log(app, seq, cmd, now):
    # The raw lines, exactly as stored, so the host verifies the hash chain itself. They go out a
    # piece per audio frame (logsend.py); the reply with head and line count follows the last.
    if not app.log_sender.start(seq):
        app.reply_error(seq, "a log transfer is already running")


def feed(app, seq, cmd, now):
    if app.feed is None:
        app.reply_error(seq, "feed needs test mode: earshot deploy --test-mode, then hold the "
                             "action button while the board starts")
        return
    pcm = binascii.a2b_base64(cmd["pcm"])
    if len(pcm) % 2 or not app.feed.put(pcm):
        app.reply_error(seq, "feed buffer full or odd length; free %d" % app.feed.free())
        return
    app.reply(seq, free=app.feed.free())


def provision(app, seq, cmd, now):
    key = cmd["key"]
    dev = cmd["device_id"]
    if not isinstance(key, str) or len(key) != 2 * _KEY_BYTES:
        raise ValueError("key must be %d hex digits" % (2 * _KEY_BYTES))
    key = binascii.unhexlify(key)
    if not valid_device_id(dev):
        raise ValueError("device_id must be 1-%d printable ASCII characters" % _MAX_DEVICE_ID)
    if app.forwarder.signer is not None:
        # Replacing a key changes who can vouch for this board's audio: the household decides.
        refused = app.ask_confirmation("provision", dev, (dev, key), seq, now, requester(cmd))
        if refused:
            app.reply_error(seq, refused)
        return
    app.provision(dev, key, seq)


def requester(cmd):
    """The computer that asked, as it names itself (`by`: text, shown to the household, never
    trusted for anything else): printable ASCII, at most _MAX_BY characters; None if absent."""
    by = cmd.get("by")
    if by is None:
        return None
    if not isinstance(by, str):
        raise ValueError("by must be text")
    out = ""
    for ch in by[:_MAX_BY]:
        out += ch if 32 <= ord(ch) < 127 else "?"
    return out or None


def valid_device_id(dev):
    if not isinstance(dev, str) or not 0 < len(dev) <= _MAX_DEVICE_ID:
        return False
    for c in dev:
        if not 32 < ord(c) < 127:
            return False
    return True


COMMANDS = {
    "hello": status,
    "status": status,
    "mute": mute,
    "unmute": unmute,
    "stop": stop,
    "consent": consent,
    "cancel": cancel,
    "log": log,
    "provision": provision,
    "feed": feed,
    "play": play,  # earshot/playcmd.py: the speaker
}
