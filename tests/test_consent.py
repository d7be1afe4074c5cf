"""The household's consent (firmware/earshot/consent.py) and host requests that wait for the
household's gesture (firmware/earshot/confirm.py), privacy contract point 5.

Hypothesis drives the state machine in CPython (the module is plain Python; `const` is stubbed),
and the same random scenarios replayed in the MicroPython Unix port must give the same trace."""

import importlib.util
import json
import random
import sys
import types

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.mpy import FIRMWARE, run_mpy


def _load_firmware_module(name):
    """Import firmware/earshot/<name>.py in CPython with a stand-in `micropython.const`."""
    added = "micropython" not in sys.modules
    if added:
        stub = types.ModuleType("micropython")
        stub.const = lambda x: x
        sys.modules["micropython"] = stub
    try:
        spec = importlib.util.spec_from_file_location(
            "earshot_%s_cpython" % name, FIRMWARE / "earshot" / (name + ".py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        if added:
            del sys.modules["micropython"]


C = _load_firmware_module("consent")
K = _load_firmware_module("confirm")
WINDOW_MS = 10000
TARGETS = [name for name, _ in C.PRESETS] + ["guest"] + list(range(32))


class ConsentMachine(RuleBasedStateMachine):
    """Consent alone: the button may change anything, any other source only makes it more
    private, and every change of the applied consent is reported once and logged X -> Y."""

    def __init__(self):
        super().__init__()
        self.events, self.lines = [], []
        self.now = 0
        self._new()

    def _new(self, state=None):
        self.c = C.Consent.from_state(state, on_change=lambda e, t: self.events.append((e, t)),
                                      log=self.lines.append)
        self.seen = (self.c.flags, self.c.preset)
        self.nevents = len(self.events)

    def _check_reported(self, may_grow):
        before_flags = self.seen[0]
        now = (self.c.flags, self.c.preset)
        new_events = self.events[self.nevents :]
        if now != self.seen:
            assert len(new_events) == 1
            e, t = new_events[0]
            assert (e["old"], e["new"], e["preset"], e["guest"], t) == (
                self.seen[0], now[0], now[1], self.c.guest, self.now)
            assert self.lines[-1].startswith("consent: %s -> %s (" % (self.seen[1], now[1]))
        else:
            assert new_events == []
        if not may_grow:
            assert self.c.flags & ~before_flags == 0, "a remote source made consent less private"
        self.seen, self.nevents = now, len(self.events)

    @rule(ms=st.integers(0, 15000))
    def time_passes(self, ms):
        self.now += ms

    @rule(wanted=st.sampled_from(TARGETS), source=st.sampled_from(["host", "wyoming"]))
    def remote_source_applies(self, wanted, source):
        flags, guest = self.c.target(wanted)
        widens = self.c.widens(flags, guest)
        try:
            result = self.c.apply(flags, guest, source, self.now)
        except ValueError:
            assert widens
        else:
            assert not widens and result in (C.APPLIED, C.UNCHANGED)
            assert self.c.flags == (0 if guest else flags)
        self._check_reported(may_grow=False)

    @rule(wanted=st.sampled_from(TARGETS), source=st.sampled_from(["button", "host+button"]))
    def household_applies(self, wanted, source):
        flags, guest = self.c.target(wanted)
        assert self.c.apply(flags, guest, source, self.now) in (C.APPLIED, C.UNCHANGED)
        assert self.c.flags == (0 if guest else flags)
        self._check_reported(may_grow=True)

    @rule()
    def long_press(self):
        was_guest, before = self.c.guest, self.c.preset
        self.c.cycle(self.now)
        names = [n for n, _ in C.PRESETS]
        if was_guest:
            assert self.c.preset == "private"
        else:
            i = names.index(before) + 1 if before in names else 0
            assert self.c.preset == names[i % len(names)]
        self._check_reported(may_grow=True)

    @rule(on=st.booleans())
    def very_long_press(self, on):
        self.c.set_guest(on, "button", self.now)
        assert self.c.guest == on and (self.c.flags == 0 or not on)
        self._check_reported(may_grow=True)

    @rule()
    def power_cycle(self):
        flags, preset = self.c.flags, self.c.preset
        self._new(json.loads(json.dumps(self.c.state_dict())))
        assert (self.c.flags, self.c.preset) == (flags, preset)

    @invariant()
    def applied_consent_is_coherent(self):
        c = self.c
        assert 0 <= c.flags <= C.ALL
        if c.guest:
            assert c.flags == 0 and c.preset == "guest"
        assert c.allows_streaming() == bool(c.flags & C.CLOUD)
        assert c.allows_preroll() == bool(c.flags & C.CLOUD and c.flags & C.PREROLL)
        assert c.led_colour() == C.COLOURS[c.preset]


TestConsentStateMachine = ConsentMachine.TestCase
TestConsentStateMachine.settings = settings(max_examples=150, stateful_step_count=40,
                                            deadline=None)


class ConfirmationMachine(RuleBasedStateMachine):
    """A request waits for the household's gesture: one at a time, applied only in time,
    every transition logged X -> Y."""

    def __init__(self):
        super().__init__()
        self.transitions = []
        self.k = K.Confirmation(lambda m, old, new, why: self.transitions.append((m, old, new)),
                                window_ms=WINDOW_MS)
        self.now = 0
        self.state_name = "idle"

    @rule(ms=st.sampled_from([1, 250, WINDOW_MS - 1, WINDOW_MS, WINDOW_MS + 1, 30000]))
    def time_passes(self, ms):
        self.now += ms
        waiting, since = self.k.state == K.WAITING, self.k.since
        lapsed = self.k.expired(self.now)
        assert (lapsed is not None) == (waiting and self.now - since > WINDOW_MS)

    @rule(kind=st.sampled_from(["consent", "provision"]), seq=st.integers(1, 999))
    def host_asks(self, kind, seq):
        was_waiting = self.k.state == K.WAITING
        before = (self.k.kind, self.k.seq)
        ok = self.k.ask(kind, "t%d" % seq, (seq,), seq, self.now)
        assert ok != was_waiting
        if not ok:
            assert (self.k.kind, self.k.seq) == before  # never swapped behind the household
        else:
            assert (self.k.kind, self.k.seq, self.k.since) == (kind, seq, self.now)

    @rule()
    def gesture(self):
        waiting, since, seq = self.k.state == K.WAITING, self.k.since, self.k.seq
        done = self.k.accept(self.now)
        if waiting and self.now - since <= WINDOW_MS:
            assert done is not None and done[3] == seq
        else:
            assert done is None
        assert self.k.state == K.IDLE or not waiting

    @rule()
    def cancel(self):
        waiting = self.k.state == K.WAITING
        assert (self.k.cancel("test") is not None) == waiting
        assert self.k.state == K.IDLE

    @invariant()
    def transitions_are_logged_as_x_to_y(self):
        for m, old, new in self.transitions:
            assert m == "confirm" and old == self.state_name and old != new
            self.state_name = new
        self.transitions.clear()
        assert self.state_name == K.NAMES[self.k.state]
        assert (self.k.kind is None) == (self.k.state == K.IDLE)


TestConfirmationStateMachine = ConfirmationMachine.TestCase
TestConfirmationStateMachine.settings = settings(max_examples=100, stateful_step_count=40,
                                                 deadline=None)


def test_defaults_and_corrupt_state_are_private():
    for state in (None, {}, {"flags": "x"}, {"flags": 99}, {"flags": -1}, [], {"guest": True}):
        c = C.Consent.from_state(state)
        assert (c.flags, c.preset, c.allows_streaming()) == (0, "private", False)
    assert C.Consent.from_state({"flags": 1, "guest": True}).flags == 0


def test_presets_and_led_legend():
    assert dict(C.PRESETS) == {"private": 0, "assistant": 1, "history": 5, "contribute": 31}
    assert C.FLAG_NAMES == ("cloud", "human_review", "retain", "training", "preroll")
    assert len(set(C.COLOURS.values())) == len(C.COLOURS)
    assert (255, 0, 0) not in C.COLOURS.values()  # red belongs to the mute LED


# The same scenario interpreter runs in CPython and in MicroPython.
SCENARIO = """
def scenario(C, K, ops):
    events = []
    lines = []
    c = C.Consent(on_change=lambda e, t: events.append(sorted(e.items())), log=lines.append)
    k = K.Confirmation(lambda m, o, n, w: lines.append('%s %s %s %s' % (m, o, n, w)), 10000)
    trace = []
    now = 0
    for op, arg in ops:
        r = None
        try:
            if op == 'wait':
                now += arg
                r = k.expired(now)
            elif op == 'host':
                f, g = c.target(arg)
                if c.widens(f, g):
                    r = k.ask('consent', arg, (f, g), len(trace), now)
                else:
                    r = c.apply(f, g, 'host', now)
            elif op == 'button':
                f, g = c.target(arg)
                r = c.apply(f, g, 'button', now)
            elif op == 'cycle':
                r = c.cycle(now)
            elif op == 'guest':
                r = c.set_guest(arg, 'button', now)
            else:
                r = k.accept(now)
                if r:
                    c.apply(r[2][0], r[2][1], 'host+button', now)
        except ValueError as e:
            r = 'refused'
        trace.append([r, c.flags, c.preset, k.state, list(c.led_colour()), len(events),
                      c.allows_streaming(), k.seconds_left(now)])
    return [trace, events, lines]
"""


def _random_ops(rng, n):
    ops = []
    for _ in range(n):
        op = rng.choice(["wait", "host", "button", "cycle", "guest", "confirm"])
        arg = {"wait": rng.choice([1, 250, 3000, 9999, 12000]), "host": rng.choice(TARGETS),
               "button": rng.choice(TARGETS), "guest": rng.random() < 0.5}.get(op)
        ops.append([op, arg])
    return ops


def test_micropython_and_cpython_run_the_same_consent_scenarios_identically():
    rng = random.Random(5)
    scenarios = [_random_ops(rng, 60) for _ in range(40)]
    env = {}
    exec(SCENARIO, env)
    expected = json.loads(json.dumps([env["scenario"](C, K, ops) for ops in scenarios]))
    out = run_mpy(
        "import json\n"
        "import earshot.consent as C\n"
        "import earshot.confirm as K\n"
        + SCENARIO
        + "print(json.dumps([scenario(C, K, ops) for ops in json.loads(%r)]))\n"
        % json.dumps(scenarios),
        heap="4M",
    )
    assert json.loads(out) == expected


def test_flags_from_a_host_are_an_int_never_a_bool_or_anything_else():
    # JSON `true` is a bool, and a bool is an int in Python: it must not pass for flags 1
    # (cloud) and ask the household for "assistant".
    import pytest

    c = C.Consent(on_change=lambda e, t: None, log=lambda *a: None)
    for bad in (True, False, 1.0, None, -1, C.ALL + 1, [1], "cloud"):
        with pytest.raises(ValueError):
            c.target(bad)
    assert c.target(C.ALL) == (C.ALL, False) and c.target(0) == (0, False)


def test_a_request_waits_exactly_its_window_and_a_withdrawal_exactly_its_cool_down():
    # Board time to the millisecond (the firmware acts on whole frames, but a real board's
    # ticks are continuous): 30 s to walk over, then it lapses; 5 s before a host that
    # withdrew a request may ask again, then at once.
    log = []
    k = K.Confirmation(lambda m, o, n, w: log.append(w))
    assert k.window_ms == 30000
    assert k.ask("consent", "history", (5, False), 1, 1000)
    assert k.expired(1000 + 30000) is None and k.state == K.WAITING
    assert k.expired(1000 + 30001) is not None and log[-1] == "expired"
    assert k.shown_for(40000) == -1  # nothing waits: never "shown"
    k.withdrawn(50000)
    assert k.cooldown_ms(50000) == 5000 and k.cooldown_ms(54999) == 1
    assert k.cooldown_ms(55000) == 0 and k.cooldown_ms(55001) == 0
    assert k.ask("consent", "history", (5, False), 2, 55000)
    k.show(55020)
    assert k.shown_for(55020 + 999) == 999 and k.shown_for(55000) == -1
