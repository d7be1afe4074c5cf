"""The household's consent (firmware/earshot/consent.py, privacy contract point 5).

Hypothesis drives the state machine in CPython (the module is plain Python; `const` is stubbed),
and the same random scenarios replayed in the MicroPython Unix port must give the same trace."""

import importlib.util
import json
import random
import sys
import types

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.mpy import FIRMWARE, run_mpy


def _load_consent():
    """Import firmware/earshot/consent.py in CPython with a stand-in `micropython.const`."""
    added = "micropython" not in sys.modules
    if added:
        stub = types.ModuleType("micropython")
        stub.const = lambda x: x
        sys.modules["micropython"] = stub
    try:
        spec = importlib.util.spec_from_file_location(
            "earshot_consent_cpython", FIRMWARE / "earshot" / "consent.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        if added:
            del sys.modules["micropython"]


C = _load_consent()
CONFIRM_MS = 10000
TARGETS = [name for name, _ in C.PRESETS] + ["guest"] + list(range(32))


def _effective(target):
    """The flags that apply once `target` (preset name, "guest" or int) is in force."""
    if target == "guest":
        return 0
    if isinstance(target, str):
        return dict(C.PRESETS)[target]
    return target


class ConsentMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.events, self.lines = [], []
        self.now = 0
        self._new()

    def _new(self, state=None):
        self.c = C.Consent.from_state(state, on_change=lambda e, t: self.events.append((e, t)),
                                      log=self.lines.append, confirm_ms=CONFIRM_MS)
        self.seen = (self.c.flags, self.c.preset)
        self.nevents = len(self.events)
        self.state_name = C.STATE_NAMES[self.c.state]

    def _check_reported(self, may_grow):
        """Every change of the applied consent was reported once, with the right old/new."""
        before_flags = self.seen[0]
        now = (self.c.flags, self.c.preset)
        new_events = self.events[self.nevents :]
        if now != self.seen:
            assert len(new_events) == 1
            e, t = new_events[0]
            assert (e["old"], e["new"], e["preset"], e["guest"], t) == (
                self.seen[0], now[0], now[1], self.c.guest, self.now)
        else:
            assert new_events == []
        if not may_grow:
            assert self.c.flags & ~before_flags == 0, "a remote request made consent less private"
        self.seen, self.nevents = now, len(self.events)

    @rule(ms=st.integers(0, 15000))
    def time_passes(self, ms):
        self.now += ms
        self.c.tick(self.now)
        self._check_reported(may_grow=False)

    @rule(wanted=st.sampled_from(TARGETS), source=st.sampled_from(["host", "wyoming"]))
    def host_request(self, wanted, source):
        before = self.c.flags
        result = self.c.request(wanted, source, self.now)
        wants = _effective(wanted)
        if wants & ~before:
            assert result == C.NEEDS_CONFIRMATION and self.c.flags == before
            assert self.c.pending == C.preset_name(*self.c._pending[:2])
        else:
            assert result in (C.APPLIED, C.UNCHANGED) and self.c.flags == wants
            assert self.c.pending is None
        self._check_reported(may_grow=False)

    @rule(wanted=st.sampled_from(TARGETS))
    def button_request(self, wanted):
        result = self.c.request(wanted, "button", self.now)
        assert result in (C.APPLIED, C.UNCHANGED)
        assert self.c.flags == _effective(wanted)
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
        assert self.c.pending is None
        self._check_reported(may_grow=True)

    @rule(on=st.booleans(), source=st.sampled_from(["host", "button"]))
    def guest(self, on, source):
        result = self.c.set_guest(on, source, self.now)
        if on:
            assert self.c.flags == 0 and self.c.guest
        elif source == "host" and result == C.NEEDS_CONFIRMATION:
            assert self.c.guest
        self._check_reported(may_grow=source == "button")

    @precondition(lambda self: self.c.pending is not None)
    @rule(delay=st.sampled_from([0, 1, CONFIRM_MS - 1, CONFIRM_MS, CONFIRM_MS + 1, 30000]))
    def button_confirms(self, delay):
        flags, guest, _, since = self.c._pending
        self.now = max(self.now, since + delay)
        in_time = self.now - since <= CONFIRM_MS
        before = self.c.flags
        assert self.c.confirm(self.now) == in_time
        assert self.c.flags == ((0 if guest else flags) if in_time else before)
        assert self.c.pending is None
        self._check_reported(may_grow=True)

    @rule()
    def stray_confirm_changes_nothing(self):
        if self.c.pending is None:
            assert self.c.confirm(self.now) is False
            self._check_reported(may_grow=False)

    @rule()
    def power_cycle(self):
        flags, preset = self.c.flags, self.c.preset
        self._new(json.loads(json.dumps(self.c.state_dict())))
        assert (self.c.flags, self.c.preset, self.c.pending) == (flags, preset, None)

    @invariant()
    def applied_consent_is_coherent(self):
        c = self.c
        assert 0 <= c.flags <= C.ALL
        if c.guest:
            assert c.flags == 0 and c.preset == "guest"
        assert c.allows_streaming() == bool(c.flags & C.CLOUD)
        assert c.allows_preroll() == bool(c.flags & C.CLOUD and c.flags & C.PREROLL)
        assert (c.state == C.CONFIRMING) == (c.pending is not None)
        led = c.led_colour(self.now)
        assert led in C.COLOURS.values() or (led == (0, 0, 0) and c.state == C.CONFIRMING)
        if c.state == C.STEADY:
            assert led == C.COLOURS[c.preset]

    @invariant()
    def transitions_are_logged_as_x_to_y(self):
        for line in self.lines:
            if " -> " in line:
                a, b = line[len("consent: ") :].split(" -> ")
                assert a == self.state_name and a != b
                self.state_name = b
        self.lines.clear()
        assert self.state_name == C.STATE_NAMES[self.c.state]


TestConsentStateMachine = ConsentMachine.TestCase
TestConsentStateMachine.settings = settings(max_examples=150, stateful_step_count=40,
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
def scenario(C, ops):
    events = []
    lines = []
    c = C.Consent(on_change=lambda e, t: events.append(sorted(e.items())), log=lines.append,
                  confirm_ms=10000)
    trace = []
    now = 0
    for op, arg in ops:
        if op == 'wait':
            now += arg
            r = c.tick(now)
        elif op == 'host':
            r = c.request(arg, 'host', now)
        elif op == 'button':
            r = c.request(arg, 'button', now)
        elif op == 'cycle':
            r = c.cycle(now)
        elif op == 'guest':
            r = c.set_guest(arg, 'host', now)
        else:
            r = c.confirm(now)
        trace.append([r, c.flags, c.preset, c.state, list(c.led_colour(now)), len(events),
                      c.allows_streaming(), c.pending])
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
    expected = json.loads(json.dumps([env["scenario"](C, ops) for ops in scenarios]))
    out = run_mpy(
        "import json\n"
        "import earshot.consent as C\n"
        + SCENARIO
        + "print(json.dumps([scenario(C, ops) for ops in json.loads(%r)]))\n"
        % json.dumps(scenarios),
        heap="4M",
    )
    assert json.loads(out) == expected
