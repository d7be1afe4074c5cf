# The `log` command's transfer, a piece per audio frame (docs/protocol.md).
#
# The whole log is ~75 KB; written in one go it would hold the loop for seconds (the serial
# budget in docs/protocol.md), long enough to lose audio and, on a slow line, for the 5 s
# watchdog to reset the board. So the raw lines go out as `log` events of at most
# _PIECE_BYTES, one per frame and only while the loop is on time; the loop keeps feeding the
# watchdog between pieces. The reply (head and line count) follows the last piece.
# The lines are sent exactly as stored, so the host verifies the hash chain itself. If the log
# is compacted meanwhile (its anchor moves), the transfer stops with an error rather than send
# lines that no longer chain.
from micropython import const

_PIECE_BYTES = const(2048)


class LogSender:
    def __init__(self, app):
        self._app = app
        self.seq = None  # host command number of the transfer in progress, or None
        self._offset = 0
        self._lines = 0
        self._anchor = None

    def start(self, seq):
        """Begin a transfer for command `seq`; False if one is already running."""
        if self.seq is not None:
            return False
        self.seq = seq
        self._offset = 0
        self._lines = 0
        self._anchor = self._app.log.anchor()
        return True

    def step(self, may_send):
        """Each frame: send the next piece when `may_send`; finish with the reply. True if it
        wrote to the serial line."""
        if self.seq is None or not may_send:
            return False
        app = self._app
        if app.log.anchor() != self._anchor:
            seq, self.seq = self.seq, None
            app.reply_error(seq, "the log was compacted during the transfer: run it again")
            return True
        batch = []
        size = 0
        try:
            f = open(app.log_path, "rb")
        except OSError:
            f = None
        if f:
            with f:
                f.seek(self._offset)
                while size < _PIECE_BYTES:
                    line = f.readline()
                    if not line or line[-1] != 0x0A:
                        break  # end of the log (or a line being written)
                    batch.append(line.decode())
                    size += len(line)
        self._offset += size
        if batch:
            self._lines += len(batch)
            app.event("log", lines=batch)
            return True
        seq, self.seq = self.seq, None
        app.reply(seq, head=app.log.head(), lines=self._lines)
        return True
