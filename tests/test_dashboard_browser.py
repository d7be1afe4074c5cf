"""`earshot dashboard` in a real browser (Debian's chromium driven by Playwright) against a
virtual board: the page follows what the board reports, asks the household at the board for
less privacy, shows sessions and a tampered log, and is usable from a keyboard on a phone.

One board, one dashboard and one browser are shared by the module (they run on one xdist
worker, which may run other modules in between and so start them afresh: each test sets up
the state it needs); screenshots of the main states go to out/household/ (not committed).
"""

import json
import os
import re
import shutil
import signal
import time
import urllib.error
import urllib.request

import pytest

from host_tools.hil.fixtures import confirm, silence, speech_like
from host_tools.legend import CONFIRM_S
from host_tools.resources import audio
from host_tools.sim.world import read_pcm
from tests.household import OUT, Earshot, key_file, provisioned_board, unmute

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.xdist_group("dashboard-browser")]
if not os.path.exists(CHROMIUM):
    pytestmark.append(pytest.mark.skip(reason="no chromium: apt-get install chromium (.ci/run "
                                              "does) to run the browser tests"))
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

TIMINGS = {}
PROCS = {}  # the module's `earshot dashboard` process, to stall it as a busy machine would


@pytest.fixture(scope="module")
def board(firmware_image, tmp_path_factory):
    b = provisioned_board(firmware_image, tmp_path_factory.mktemp("dash-board"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def dashboard(board, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dash")
    # One process, both jobs: the page and a Wyoming bridge whose pipeline lets people listen
    # (so the household's `assistant` sessions are refused there, and the page says so).
    proc = Earshot("dashboard", "--port", board.port, "--bind", "127.0.0.1:0",
                   "--key-file", str(key_file(tmp)), "--wyoming",
                   "tcp://127.0.0.1:%d" % _free_port(), "--uses", "cloud,human_review",
                   env={"EARSHOT_STATE_DIR": str(tmp)})
    url = proc.wait_line(r"dashboard: (http://\S+)").group(1)
    PROCS["dashboard"] = proc.proc
    yield url
    assert proc.stop() == 0, proc.output


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with playwright.sync_playwright() as p:
        # Playwright's own browser download cannot work here: the system chromium, a fresh
        # profile, nothing that reaches the network by itself.
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
            headless=True, bypass_csp=True,  # the page's CSP forbids eval; the test's probes use it
            args=["--no-sandbox", "--disable-gpu", "--disable-quic",
                                 "--no-first-run", "--disable-background-networking",
                                 "--disable-component-update", "--disable-sync"])
        yield ctx
        ctx.close()


@pytest.fixture(scope="module")
def page(browser, dashboard):
    pg = browser.new_page()
    pg.set_viewport_size({"width": 1000, "height": 1400})
    pg.goto(dashboard + "board/1")
    pg.wait_for_function("document.getElementById('mute').dataset.muted !== undefined")
    return pg


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shot(page, name):
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / ("%s.png" % name)), full_page=True)


def shown_muted(page):
    return page.eval_on_selector("#mute", "e => e.dataset.muted")


def flip_latency_ms(page, board, want):
    """Press the board's mute button; ms (browser clock) until the page shows `want`."""
    t0 = page.evaluate("performance.now()")
    board.press("mute", wait=False)
    page.wait_for_function("document.getElementById('mute').dataset.muted === %r" % want,
                           timeout=10000)
    return float(page.eval_on_selector("#mute", "e => e.dataset.changedAt")) - t0


def stall_dashboard(seconds):
    """The dashboard gets no CPU for `seconds` (SIGSTOP), as on a busy machine, from now; the
    board meanwhile goes on and its output waits on the serial line."""
    pid = PROCS["dashboard"].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


def ensure_assistant(page, board):
    if page.inner_text("#preset-name") == "assistant":
        return
    page.click("button[data-preset=assistant]")
    page.wait_for_selector("#confirm-card.waiting")
    confirm(board)
    page.wait_for_function("document.getElementById('preset-name').textContent === 'assistant'")


def test_mute_button_on_the_board_flips_the_page_within_a_second(page, board):
    # The board boots muted: the page says so, as its pins do.
    page.wait_for_function("document.getElementById('mute').dataset.muted === 'true'")
    assert board.pins()["mute_led"] == 1 and board.pins()["mic_power"] == 0
    assert "Microphone OFF" in page.inner_text("#mute")
    shot(page, "1-muted-at-boot")
    on = flip_latency_ms(page, board, "false")
    assert board.pins()["mic_power"] == 1 and board.pins()["mute_led"] == 0
    assert "Microphone ON" in page.inner_text("#mute")
    shot(page, "2-listening")
    off = flip_latency_ms(page, board, "true")
    assert board.pins()["mic_power"] == 0
    TIMINGS["unmute_press_to_page_ms"] = round(on)
    TIMINGS["mute_press_to_page_ms"] = round(off)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "browser-timings.json").write_text(json.dumps(TIMINGS, indent=1))
    # The press itself lasts 100 ms (a short press acts on release); the issue allows 1 s.
    assert on < 1000 and off < 1000, TIMINGS


def test_the_page_shows_the_access_mode_and_the_light_as_the_board_lights_it(page, board):
    # Before, the page never said who may change the board (locked, unlocked, developer) nor
    # test mode; its status light named the preset's colour whatever the LED did.
    page.wait_for_function("document.getElementById('access').textContent.includes('developer')")
    assert page.inner_text("#access").startswith("Access: developer build")
    assert page.is_hidden("#test-mode")
    led = page.inner_text("#led-text")
    assert re.match(r"Status light: (green|blue|cyan|amber|white|magenta)\. ", led), led


def test_less_private_request_counts_down_and_the_board_press_confirms_it(page, board):
    if page.inner_text("#preset-name") != "private":
        page.click("button[data-preset=private]")  # more private: applies at once
        page.wait_for_function("document.getElementById('preset-name').textContent === 'private'")
    page.click("button[data-preset=assistant]")
    page.wait_for_selector("#confirm-card.waiting")
    text = page.inner_text("#confirm-text")
    assert "hold both buttons together on the board" in text
    left = int(page.eval_on_selector("#confirm-text", "e => e.dataset.secondsLeft"))
    assert 1 <= left <= CONFIRM_S  # a window a person across the room can use
    # The page shows what the board reports: still private until someone presses the button.
    assert page.inner_text("#preset-name") == "private"
    shot(page, "3-waiting-for-the-button")
    time.sleep(1.1)
    assert int(page.eval_on_selector("#confirm-text", "e => e.dataset.secondsLeft")) < left
    confirm(board)
    page.wait_for_selector("#confirm-card.applied")
    assert "Confirmed on the board" in page.inner_text("#confirm-text")
    assert page.inner_text("#preset-name") == "assistant"
    flags = page.inner_text("#flags")
    assert "may leave the home: yes" in flags and "people may listen: no" in flags
    assert "blue" in page.inner_text("#led-text")
    shot(page, "4-confirmed")


def test_a_session_shows_while_it_streams_and_then_in_the_timeline_with_its_consent(page, board):
    ensure_assistant(page, board)
    unmute(board)
    before = page.eval_on_selector_all(".entry.kind-session", "es => es.length")
    # Someone says it (live: at the pace of speech, so the session lasts as long as the
    # speech does, as beside a real board). Queued as a recording, the virtual board read the
    # whole session in ~70 ms of the host's clock; on CI's busy worker the dashboard took the
    # start and the end together and the page never showed it. A dashboard stalled for a
    # second as the person starts to speak must still show the session.
    board.play(silence(0.5) + read_pcm(audio("alexa_en-us.wav")) + speech_like(1.5)
               + silence(1.5), live=True)
    stall_dashboard(1.0)
    # "Streaming now" while the session streams (read in the page, at the moment it shows).
    _wait_or_say(page, """() => { const p = document.getElementById('streaming');
        return p.classList.contains('on') &&
               p.textContent.includes('under consent assistant (may leave the home)'); }""",
                 lambda: _what_the_board_did(board, page), timeout=15000)
    shot(page, "5-streaming")
    page.wait_for_function("document.querySelectorAll('.entry.kind-session').length > %d" % before,
                           timeout=20000)
    newest = page.inner_text(".entry.kind-session")
    assert "Audio left the board" in newest and "'alexa'" in newest
    assert "under consent assistant (may leave the home)" in newest
    heights = page.eval_on_selector_all("#chart rect.bar",
                                        "rs => rs.map(r => +r.getAttribute('height'))")
    assert max(heights) > 0
    assert "Verified on this computer" in page.inner_text("#log-status")
    # The bridge in the same process held it back from a pipeline that lets people listen.
    assert "lets people listen to it (human_review)" in page.inner_text("#refusals")
    assert "people may listen: yes" in page.inner_text("#pipelines")
    shot(page, "6-session-in-the-timeline")


def contrast(page, selector):
    """WCAG contrast of the element's text against the background behind it, as rendered."""
    return page.eval_on_selector(selector, """e => {
      const lum = (c) => { const [r, g, b] = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number)
        .map(v => v / 255).map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
        return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
      let n = e, bg = "rgba(0, 0, 0, 0)";
      while (n && (bg === "rgba(0, 0, 0, 0)" || bg === "transparent")) {
        bg = getComputedStyle(n).backgroundColor; n = n.parentElement; }
      if (bg === "rgba(0, 0, 0, 0)") bg = "rgb(255, 255, 255)";
      const a = lum(getComputedStyle(e).color), b = lum(bg);
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }""")


def test_phone_sized_keyboard_only_readable_and_no_unmute_button(browser, dashboard, board):
    phone = browser.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(dashboard + "board/1")
    unmute(board)
    phone.wait_for_function("document.getElementById('mute').dataset.muted === 'false'")
    wide = phone.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > 391)
        .map(e => e.tagName + '#' + e.id + '.' + e.className + ': ' + e.textContent.slice(0, 80))""")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390, wide[:5]
    for sel in ("#mute-text", "#mute-detail", "#preset-name", "#flags li", "#mute-now",
                "button.choice", "#log-status p", ".timeline time", ".note"):
        assert contrast(phone, sel) >= 4.5, sel
    shot(phone, "7-phone-listening")
    # Keyboard only: Tab to "Mute now", Enter.
    for _ in range(40):
        phone.keyboard.press("Tab")
        if phone.evaluate("document.activeElement.id") == "mute-now":
            break
    assert phone.evaluate("document.activeElement.id") == "mute-now"
    phone.keyboard.press("Enter")
    phone.wait_for_function("document.getElementById('mute').dataset.muted === 'true'")
    assert board.pins()["mic_power"] == 0 and board.pins()["mute_led"] == 1
    assert contrast(phone, "#mute-text") >= 4.5
    texts = [t.lower() for t in
             phone.eval_on_selector_all("button", "bs => bs.map(b => b.innerText)")]
    assert texts and not any("unmute" in t or "turn on" in t for t in texts)
    shot(phone, "8-phone-muted-from-the-keyboard")
    phone.close()


def _request(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {},
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_actions_need_the_page_token_and_a_loopback_host(dashboard, board, page):
    status, body = _request(dashboard + "board/1/mute", data=b"{}",
                            headers={"content-type": "application/json"})
    assert status == 403 and "CSRF" in body
    csrf = page.get_attribute('meta[name="earshot-csrf"]', "content")
    status, _ = _request(dashboard + "board/1/mute", data=b"{}", headers={
        "x-earshot-csrf": csrf, "origin": "http://evil.example"})
    assert status == 403
    # A page elsewhere that rebinds its name to 127.0.0.1 is refused by name.
    status, _ = _request(dashboard + "board/1", headers={"host": "evil.example:80"})
    assert status == 421
    # Less privacy through the API is only ever a request the board holds for its button.
    status, body = _request(dashboard + "board/1/consent", data=b'{"preset": "contribute"}',
                            headers={"x-earshot-csrf": csrf, "content-type": "application/json"})
    assert status == 200 and json.loads(body)["reply"]["result"] == "needs_confirmation"
    page.wait_for_selector("#confirm-card.waiting")
    assert page.inner_text("#preset-name") != "contribute"


def test_a_tampered_log_shows_as_broken(page, board):
    log = board.flash_dir / "data" / "log.txt"
    while len(log.read_bytes().split(b"\n")) < 4:  # at least three entries to work on
        board.press("mute")
    lines = log.read_bytes().split(b"\n")
    lines[1] = re.sub(rb'"t": ?(\d+)', lambda m: m.group(0)[:-1] + bytes(
        [ord("0") + (int(m.group(0)[-1:]) + 1) % 10]), lines[1], count=1)
    log.write_bytes(b"\n".join(lines))
    board.press("mute")  # any change makes the dashboard read the log again
    page.wait_for_selector("#log-status.broken", timeout=15000)
    status = page.inner_text("#log-status")
    assert "LOG BROKEN" in status and "line 2" in status
    shot(page, "9-log-broken")
    # The board restarts and repairs its log: the page warns (never a green "intact") until
    # someone holds the mute button at the board.
    board.power_cut()
    board.power_on()
    page.wait_for_selector("#log-status.warning", timeout=30000)
    warning = page.inner_text("#log-status")
    assert "LOG REPAIRED" in warning and "hold the mute button on the board" in warning
    assert "intact" not in warning
    shot(page, "9b-log-repaired")
    board.press("mute", seconds=2.0)
    page.wait_for_selector("#log-status.ok", timeout=30000)
    assert "(acknowledged at the board)" in page.inner_text("#log-status")


def test_the_overview_lists_every_board_with_its_microphone_and_log(browser, dashboard, page):
    broken = page.is_visible("#log-status.broken")  # after the tampering test, it is
    overview = browser.new_page()
    overview.goto(dashboard)
    overview.wait_for_selector("#boards li.board")
    text = overview.inner_text("#boards")
    assert "earshot-test-1" in text and "Microphone" in text
    assert ("LOG BROKEN" in text) == broken
    overview.click("#boards a")
    overview.wait_for_selector("#mute[data-muted]")
    assert overview.url.endswith("/board/1")
    shot(overview, "10-overview")
    overview.close()


def test_on_a_lan_the_page_asks_for_the_token_once_and_shows_every_board(browser,
                                                                         firmware_image,
                                                                         tmp_path):
    other = provisioned_board(firmware_image, tmp_path / "b")
    third = provisioned_board(firmware_image, tmp_path / "c")
    proc = Earshot("dashboard", "--port", other.port, "--port", third.port, "--bind",
                   "127.0.0.1:0", "--lan", env={"EARSHOT_STATE_DIR": str(tmp_path / "state")})
    try:
        url = proc.wait_line(r"dashboard: (http://\S+)").group(1)
        token = proc.wait_line(r"dashboard token: (\S+)").group(1)
        assert _request(url + "events?board=1")[0] == 401
        pg = browser.new_page()
        pg.goto(url + "board/1")
        assert pg.is_visible("#token")
        pg.fill("#token", "not-the-token")
        pg.click("button[type=submit]")
        pg.wait_for_selector("#login-error:has-text('not right')")
        pg.fill("#token", token)
        pg.click("button[type=submit]")
        pg.wait_for_selector("#mute[data-muted='true']")
        pg.reload()
        pg.wait_for_selector("#mute[data-muted='true']")  # remembered: not asked again
        assert not pg.is_visible("#token")
        # Several boards: one page each, and an overview of all.
        unmute(third)
        pg.goto(url + "board/2")
        pg.wait_for_selector("#mute[data-muted='false']")
        link = pg.inner_text("#link-state")
        assert "a virtual board on this computer" in link and third.port not in link
        pg.goto(url)
        pg.wait_for_function("document.querySelectorAll('#boards li.board').length === 2")
        assert pg.inner_text("#boards").count("Microphone O") == 2
        pg.close()
    finally:
        assert proc.stop() == 0, proc.output
        other.close()
        third.close()


BANNER_WATCH = """() => {
  // Every time the page changes, the banner must say audio is leaving whenever the streaming
  // card does (and never "Listening on the board only" then): violations are counted.
  window.bannerSeen = {leaving: 0, wrong: 0, texts: []};
  const check = () => {
    const streaming = document.getElementById('streaming').classList.contains('on');
    const banner = document.getElementById('mute-text').textContent;
    const leaving = banner.includes('LEAVING');
    if (leaving) window.bannerSeen.leaving++;
    if (streaming !== leaving) { window.bannerSeen.wrong++; window.bannerSeen.texts.push(banner); }
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true,
                                                      characterData: true, attributes: true});
}"""


def _what_the_board_did(board, page):
    """When a session the test waits for never shows: what the board's world and the page
    say, so a failure names its cause (audio lost, never heard, or never shown)."""
    w = board.world
    newest = page.eval_on_selector_all(".entry", "es => es.slice(0, 4).map(e => e.innerText)")
    return ("board time %.1f s, pins %s, audio the DMA dropped %d samples, spliced %d, most "
            "backlog %d; page: streaming %r, newest entries %r"
            % (board.time_s, board.pins(), w.lost_samples, w.spliced_samples, w.max_backlog,
               page.inner_text("#streaming"), newest))


def _wait_or_say(page, script, why, **kw):
    """page.wait_for_function, and on timeout an error that says why(): what the board, the
    page or both showed instead."""
    try:
        return page.wait_for_function(script, **kw)
    except playwright.Error as e:
        raise AssertionError("%s\n%s" % (str(e).splitlines()[0], why())) from None


def _above_the_banner(phone):
    """What the phone shows above the banner, top to bottom: (id or class, top, height, text)."""
    return phone.evaluate("""() => { const m = document.getElementById('mute');
        return [...document.querySelectorAll('body > *, main > *')].filter(e =>
          e.compareDocumentPosition(m) & Node.DOCUMENT_POSITION_FOLLOWING && !e.contains(m))
        .map(e => [e.id || e.className, Math.round(e.getBoundingClientRect().top),
                   Math.round(e.getBoundingClientRect().height),
                   (e.innerText || '').slice(0, 160)]); }""")


def _banner_while_leaving(phone, needle, board):
    """The banner's text and box, read in the page at the moment it says `needle` while audio
    leaves (a session can be over a moment later)."""
    handle = _wait_or_say(phone, """(needle) => {
        const m = document.getElementById('mute');
        if (!m.classList.contains('leaving') || !m.innerText.includes(needle)) return false;
        const r = m.getBoundingClientRect();
        return {text: m.innerText, top: r.top, bottom: r.bottom};
    }""", lambda: _what_the_board_did(board, phone), arg=needle, timeout=15000)
    return handle.json_value()


def test_the_banner_says_audio_is_leaving_and_where_on_a_phone(browser, dashboard, board, page):
    # Before, the banner said "Listening on the board only" during a session, while "Yes:
    # audio is leaving the board now" was two screens down on a phone.
    ensure_assistant(page, board)
    unmute(board)
    phone = browser.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(dashboard + "board/1")
    phone.wait_for_function("document.getElementById('mute').dataset.muted === 'false'")
    phone.evaluate(BANNER_WATCH)
    assert "Listening on the board only" in phone.inner_text("#mute")
    # A request that still waits comes first on a phone, by design (the next test); this test
    # is about the banner when none waits. One the board holds lapses within CONFIRM_S (board
    # time, which passes at real pace while the board is idle). CI's phone once showed the
    # banner 415 px down, as far as a waiting card pushes it: if a card outlives that, the
    # page shows a request the board no longer holds, and this says which.
    _wait_or_say(phone, "!document.getElementById('confirm-card').classList.contains('waiting')",
                 lambda: "the page still shows a waiting request: %r" % _above_the_banner(phone),
                 timeout=(CONFIRM_S + 15) * 1000)

    # A wake-word session.
    board.play(silence(0.5) + read_pcm(audio("alexa_en-us.wav")) + speech_like(3.0)
               + silence(1.5), live=True)
    shown = _banner_while_leaving(phone, "does not pass it on to Home Assistant", board)
    # the first screen of a phone
    assert shown["top"] >= 0 and shown["bottom"] <= 844, (shown, _above_the_banner(phone))
    # The board's answer to an earlier request (shown until the board restarts) once sat above
    # the banner and pushed it off a phone's first screen (CI): now it goes below.
    answer = phone.eval_on_selector("#confirm-card", "e => e.getBoundingClientRect().toJSON()")
    assert answer["height"] == 0 or answer["top"] > shown["top"], answer
    assert "audio is LEAVING the board now" in shown["text"]
    assert "The board heard “alexa”" in shown["text"]
    assert "a virtual board on this computer" in shown["text"]
    assert "Consent: assistant (may leave the home)" in shown["text"]
    phone.wait_for_selector("#mute.listening", timeout=30000)
    assert "Listening on the board only" in phone.inner_text("#mute")

    # A push-to-talk session.
    board.press("action")
    board.play(speech_like(3.0) + silence(1.5), live=True)
    shown = _banner_while_leaving(phone, "Someone pressed the talk button on the board",
                                  board)
    assert shown["top"] >= 0 and shown["bottom"] <= 844, (shown, _above_the_banner(phone))
    assert "audio is LEAVING the board now" in shown["text"]
    phone.wait_for_selector("#mute.listening", timeout=30000)
    seen = phone.evaluate("window.bannerSeen")
    assert seen["leaving"] > 0 and seen["wrong"] == 0, seen
    # No device path or URL on the page: where the board is, in words.
    text = phone.inner_text("body")
    assert "/dev/" not in text and "://" not in text and "REPL" not in text
    phone.close()


def test_on_a_phone_a_waiting_request_is_the_first_card_and_names_who_asked(browser, dashboard,
                                                                            board, page):
    csrf = page.get_attribute('meta[name="earshot-csrf"]', "content")
    headers = {"x-earshot-csrf": csrf, "content-type": "application/json"}
    # Whatever an earlier test left waiting is answered "no"; that withdrawal makes the board
    # take no new request for a few board seconds (firmware/earshot/confirm.py COOLDOWN_MS).
    assert _request(dashboard + "board/1/consent", data=b'{"preset": "private"}',
                    headers=headers)[0] == 200
    status, body = _request(dashboard + "board/1/consent", data=b'{"preset": "history"}',
                            headers=headers)
    if status == 409:  # it did withdraw one: the page says for how long
        assert "the board takes a new one in" in json.loads(body)["error"], body
        board.advance(5.5)
        status, body = _request(dashboard + "board/1/consent", data=b'{"preset": "history"}',
                                headers=headers)
    assert status == 200 and json.loads(body)["reply"]["result"] == "needs_confirmation", body
    phone = browser.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(dashboard + "board/1")
    phone.wait_for_selector("#confirm-card.waiting")
    card = phone.eval_on_selector("#confirm-card", "e => e.getBoundingClientRect().toJSON()")
    banner = phone.eval_on_selector("#mute", "e => e.getBoundingClientRect().toJSON()")
    assert card["bottom"] <= 844 and card["top"] < banner["top"], (card, banner)  # no scrolling
    by = phone.inner_text("#confirm-by")
    assert by.startswith("Asked by: the household page on ") and "127.0.0.1" in by, by
    assert "30 s left" in phone.inner_text("#confirm-text") or \
        "29 s left" in phone.inner_text("#confirm-text")
    assert contrast(phone, "#confirm-by") >= 4.5 and contrast(phone, "#confirm-text") >= 4.5
    shot(phone, "11-phone-request-first")
    phone.close()
    # Answered "no" from the page: the card says so.
    assert _request(dashboard + "board/1/consent", data=b'{"preset": "private"}',
                    headers=headers)[0] == 200
    page.wait_for_selector("#confirm-card.cancelled")
    assert "the computer withdrew it" in page.inner_text("#confirm-text")


def test_a_board_the_page_loses_is_described_in_household_words(browser, firmware_image,
                                                                tmp_path):
    """Three boards the page had: one's cable is pulled (its device node goes away), one
    restarts into the MicroPython REPL (its firmware removed), and one on native USB does the
    same, so its port goes away and comes back under a new name (the page finds it again by
    its name and meets the REPL there). The terminal gets the raw errors; the page says each
    in a household phrase, and nothing technical (a device path, a URL, an errno, "REPL", the
    port's own spelling) is on it. (A port another program holds, a network address nobody
    answers: test_link_words.py, with the errors pyserial raises.)"""
    from host_tools.hil.fixtures import boot_board
    from tests.household import Registered

    gone = boot_board(firmware_image, tmp_path / "gone")
    repl = boot_board(firmware_image, tmp_path / "repl")
    usb = boot_board(firmware_image, tmp_path / "usb", renumerate=True)
    name = "lost%d" % os.getpid()
    reg = None
    proc = None
    try:
        for b in (gone, repl, usb):
            b.start()
            b.wait_booted()
        reg = Registered(usb, name)
        usb.on_port = lambda port: reg.registration.publish(
            port=port, control=reg.control.path, board="virtual", flash=str(usb.flash_dir),
            download_mode=False)
        ports = {gone.port: "unplugged, switched off or out of reach",
                 repl.port: "not running its Earshot software",
                 usb.port: "not running its Earshot software"}
        proc = Earshot("dashboard", "--bind", "127.0.0.1:0", "--port", gone.port, "--port",
                       repl.port, "--port", "sim:" + name,
                       env={"EARSHOT_STATE_DIR": str(tmp_path / "state")})
        url = proc.wait_line(r"dashboard: (http://\S+)").group(1)
        pg = browser.new_page()
        try:
            for n in (1, 2, 3):
                pg.goto(url + "board/%d" % n)
                pg.wait_for_selector("#link-state.up")
            was = usb.port
            gone.close()  # the cable is pulled
            for b in (repl, usb):
                b.power_cut()
                (b.flash_dir / "main.py").unlink()  # it starts into the REPL
                b.power_on()
            assert usb.port != was  # it came back under a new name
            for n, (port, words) in enumerate(ports.items(), 1):
                pg.goto(url + "board/%d" % n)
                _wait_or_say(pg, "document.getElementById('link-state').textContent"
                                 ".includes(%s)" % json.dumps(words),
                             lambda: "board %d (%s): the page says %r; the terminal: %s" % (
                                 n, port, pg.inner_text("#link-state"), proc.output[-1500:]),
                             timeout=30000)
                text = pg.inner_text("body").lower()
                for raw in ("/dev/", "://", "errno", "repl", "could not", "pts", "exception",
                            "traceback", "micropython", port.lower(), usb.port, name):
                    assert raw not in text, (port, raw, text)
            pg.goto(url)  # the overview names them the same way
            pg.wait_for_selector("#boards li.board")
            text = pg.inner_text("body").lower()
            for raw in ("/dev/", "://", "errno", "repl", "pts"):
                assert raw not in text, (raw, text)
        finally:
            pg.close()
    finally:
        if proc is not None:
            proc.stop()
        if reg is not None:
            reg.close()
        for b in (gone, repl, usb):
            b.close()
