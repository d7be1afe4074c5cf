# The `play` command (docs/protocol.md): audio for the board's speaker, kept apart from
# commands.py's request handling. A host can only make the board speak, never listen: `play`
# touches no microphone, gate, consent or mute state.
#
#   {"cmd": "play", "pcm": base64}  queue 16 kHz 16-bit mono audio; reply {"free": bytes left}
#   {"cmd": "play"}                 reply {"free": ...}: how much room there is now
#   {"cmd": "play", "end": true}    no more audio: play out, then the event `played`
#   {"cmd": "play", "cancel": true} stop now and drop what is queued
import binascii


def play(app, seq, cmd, now):
    spk = app.speaker
    if spk is None:
        app.reply_error(seq, "the speaker cannot start: %s" % app.speaker_fault
                        if app.speaker_fault else
                        "this board has no speaker (its board file names none)")
        return
    if spk.fault is not None:
        app.reply_error(seq, "the speaker cannot start: %s" % spk.fault)
        return
    if cmd.get("cancel"):
        spk.cancel("host")
    elif "pcm" in cmd:
        pcm = binascii.a2b_base64(cmd["pcm"])
        if len(pcm) % 2 or not spk.put(pcm):
            app.reply_error(seq, "speaker buffer full or odd length; free %d" % spk.free())
            return
    if cmd.get("end"):
        spk.end()
    app.reply(seq, free=spk.free())
