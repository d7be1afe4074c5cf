"""A cable the tests can cut into: between a board's serial port and a host tool that reaches
it as `socket://` (one connection after another, as a serial-over-network link is). Every frame
the board sends goes through `rewrite`, which returns what the host gets instead (the frame as
it was, by default); `pending` adds frames of the test's own after each read."""

import socket
import threading

import serial

from host_tools.link.protocol import FrameParser, encode_frame


class Cable(threading.Thread):
    def __init__(self, port):
        super().__init__(daemon=True)
        self.ser = serial.Serial(port, timeout=0.02, exclusive=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = "socket://127.0.0.1:%d" % self.server.getsockname()[1]

    def rewrite(self, frame):
        """The bytes the host gets for one frame from the board."""
        return [encode_frame(frame.type, frame.seq, frame.payload)]

    def pending(self):
        """Frames of the test's own to put on the line now."""
        return []

    def run(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self._serve(conn)

    def _serve(self, conn):
        conn.settimeout(0.02)
        parser = FrameParser()
        while True:
            try:
                data = conn.recv(4096)
                if not data:
                    return
                self.ser.write(data)
            except socket.timeout:
                pass
            except OSError:
                return
            out = [b for f in parser.feed(self.ser.read(65536)) for b in self.rewrite(f)]
            try:
                for frame in out + self.pending():
                    conn.sendall(frame)
            except OSError:
                return

    def close(self):
        self.server.close()
        self.ser.close()
