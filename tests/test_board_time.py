"""What a command reports about the board's behaviour is measured in board time, however busy the
PC is: a blink pattern named by `earshot pins`, how long `earshot hil` waits for a confirmation to
lapse. A loaded PC is modelled by a board clock that moves a lot (and unevenly) between two of the
host's polls."""

import itertools

import pytest

from host_tools.cli.pins import classify, watch

WHITE, DARK = (255, 255, 255), (0, 0, 0)


class BlinkingBoard:
    """The control socket of a board whose status LED blinks `half` seconds lit, `half` dark
    (firmware/earshot/app.py), with its edge record; each host poll finds the board's clock
    moved on by the next of `steps` (seconds of board time)."""

    def __init__(self, half, steps, start=3.17, colour=WHITE):
        self.half, self.colour = half, colour
        self.t = start
        self.steps = itertools.cycle(steps)
        self.polls = 0

    def led(self, t):
        return self.colour if int(t // self.half) % 2 == 0 else DARK

    def ask(self):
        self.polls += 1
        self.t += next(self.steps)
        return {"sim_time_s": self.t, "powered": True,
                "pins": {"status_led": list(self.led(self.t))}}

    def edges(self, since):
        first = int(since // self.half) + 1
        out = []
        for k in itertools.count(first):
            at = k * self.half
            if at > self.t:
                return out
            out.append([at, "status_led", list(self.led(at))])
            out.append([at, "mute", 0])  # other lines' edges are in the same record


@pytest.mark.parametrize("steps", [(0.03,), (0.35, 0.41, 0.28), (0.9,), (0.02, 0.7)],
                         ids=["idle", "loaded", "very-loaded", "uneven"])
@pytest.mark.parametrize("half,pattern", [(0.5, "slow blinking"), (0.25, "blinking")])
def test_pins_names_the_blink_by_board_time_however_slowly_the_host_polls(steps, half, pattern):
    # Before, `pins` estimated a phase from its own samples: polled every 0.35 s of board time
    # (a load average of 6), the unlocked board's 500 ms blink was named "blinking".
    for start in (3.17, 3.49, 3.51, 4.0):
        board = BlinkingBoard(half, steps, start=start)
        _, samples = watch(board.ask, board.edges, wait=lambda s: None)
        assert classify(samples) == (WHITE, pattern), (start, samples)


class FlickeringBoard(BlinkingBoard):
    """A log repair nobody has acknowledged (firmware/earshot/app.py): the status colour, dark
    for the first 100 ms of every 500 ms."""

    test_mode = False  # then the lit part alternates with white every 500 ms

    def led(self, t):
        ms = round(t * 1000)
        if ms % 500 < 100:
            return DARK
        return WHITE if self.test_mode and (ms // 500) & 1 else self.colour

    def edges(self, since):
        out = []
        for k in itertools.count(int(since // 0.5)):
            for at in (k * 0.5, k * 0.5 + 0.1):
                if at > self.t:
                    return out
                if at > since:
                    out.append([at, "status_led", list(self.led(at))])


@pytest.mark.parametrize("steps", [(0.03,), (0.35, 0.41, 0.28), (0.9,), (0.02, 0.7)],
                         ids=["idle", "loaded", "very-loaded", "uneven"])
def test_pins_names_the_log_repair_flicker_apart_from_every_blink(steps):
    # Its lit phase (400 ms) is longer than the 250 ms blink's and shorter than the unlocked
    # board's 500 ms: named by a lit phase it would pass for "slow blinking".
    for start in (3.17, 3.49, 3.51, 4.0):
        board = FlickeringBoard(0.5, steps, start=start, colour=(0, 255, 0))
        _, samples = watch(board.ask, board.edges, wait=lambda s: None)
        assert classify(samples) == ((0, 255, 0), "flickering"), (start, samples)
        # In test mode the flicker lies over the alternation with white, which stays named.
        board = FlickeringBoard(0.5, steps, start=start, colour=(0, 255, 0))
        board.test_mode = True
        _, samples = watch(board.ask, board.edges, wait=lambda s: None)
        assert classify(samples) == ((0, 255, 0), "flickering, alternating with white"), (
            start, samples)


def test_pins_names_a_steady_light_and_test_mode_s_alternation_in_board_time():
    class Steady(BlinkingBoard):
        def led(self, t):
            return (0, 255, 0)

    board = Steady(0.5, (0.3,))
    _, samples = watch(board.ask, board.edges, wait=lambda s: None)
    assert classify(samples) == ((0, 255, 0), "steady")

    class Alternating(BlinkingBoard):
        def led(self, t):
            return (0, 255, 0) if int(t // 0.5) % 2 == 0 else WHITE

    board = Alternating(0.5, (0.45,))
    _, samples = watch(board.ask, board.edges, wait=lambda s: None)
    assert classify(samples) == ((0, 255, 0), "alternating with white")


def test_pins_stops_watching_a_board_whose_clock_stopped():
    # At the REPL (or powered off) the board's clock does not move: pins says what it shows
    # rather than waiting forever.
    class Stopped(BlinkingBoard):
        def ask(self):
            self.polls += 1
            return {"sim_time_s": self.t, "powered": True, "pins": {"status_led": [0, 255, 0]}}

    board = Stopped(0.5, (0,))
    clock = itertools.count(0, 0.5)
    import host_tools.cli.pins as pins

    real = pins.time.monotonic
    pins.time.monotonic = lambda: next(clock)
    try:
        _, samples = watch(board.ask, board.edges, wait=lambda s: None)
    finally:
        pins.time.monotonic = real
    assert classify(samples) == ((0, 255, 0), "steady") and board.polls < 40


def test_the_confirmation_countdown_follows_the_board_s_clock_not_the_host_s():
    # The board closes its 10 s confirmation window by its own ticks. Before, `earshot consent`
    # counted down by the host's clock from the one "waiting" reply: on a PC that ran the board
    # at half speed, it showed 0 s left while the board still waited 5 s.
    import json
    import math

    from host_tools.link import client as client_module
    from host_tools.link.client import Client
    from host_tools.link.protocol import T_EVENT, Frame

    host = {"now": 100.0}

    class HalfSpeedBoard(Client):
        """A board whose clock runs at half the host's speed, answering a consent change that
        needs the button and then status requests; nobody presses, so it expires."""

        def __init__(self):
            super().__init__("fake")
            self.queue, self.t0 = [], None

        def board_s(self):
            return (host["now"] - self.t0) / 2

        def send(self, name, **args):
            self._seq += 1
            if name == "consent":
                self.t0, self.asked = host["now"], self._seq
                self.reply(re=self._seq, ev="reply", result="needs_confirmation", seconds=10)
            elif name == "status":
                left = max(0, math.ceil(10 - self.board_s()))
                self.reply(re=self._seq, ev="reply", confirm={"seconds": left} if left else None)
            return self._seq

        def reply(self, **ev):
            self.queue.append(Frame(T_EVENT, 0, json.dumps(ev).encode()))

        def read_frames(self, wait=0.05):
            host["now"] += wait
            if self.t0 is not None and self.board_s() >= 10 and not getattr(self, "told", 0):
                self.told = 1
                self.reply(re=self.asked, ev="confirm", outcome="expired")
            out, self.queue = self.queue, []
            return out

    shown = []
    real = client_module.time.monotonic
    client_module.time.monotonic = lambda: host["now"]
    try:
        reply, outcome = HalfSpeedBoard().command_confirmed(
            "consent", countdown=lambda left: shown.append((host["now"], left)), preset="history")
    finally:
        client_module.time.monotonic = real
    assert outcome == "expired"
    start = shown[0][0]
    # 10 host seconds in (5 of the board's), the countdown says about 5 s left, not 0.
    at_10 = [left for t, left in shown if t - start >= 10][0]
    assert 4.0 <= at_10 <= 6.5, shown[:: max(1, len(shown) // 20)]
    assert shown[-1][0] - start >= 19  # it waited for the board, 20 host seconds
