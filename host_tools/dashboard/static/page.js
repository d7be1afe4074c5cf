// Earshot household page: renders only what the board reported (the `state` and `log` events
// of /events); buttons send small POSTs and never change what is shown by themselves.
"use strict";

const $ = (id) => document.getElementById(id);
const CSRF = document.querySelector('meta[name="earshot-csrf"]').content;
const BOARD = document.querySelector('meta[name="earshot-board"]').content;
let countdown = null;

function rgb(list) { return "rgb(" + list.join(",") + ")"; }

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function paintSwatches(root) {
  for (const s of (root || document).querySelectorAll(".swatch[data-rgb]")) {
    s.style.setProperty("--rgb", "rgb(" + s.dataset.rgb + ")");
  }
}

function yesNo(b) { return b ? "yes" : "no"; }

function plainFlags(consent) {
  return consent.plain.filter((p) => p.allowed).map((p) => p.words).join(", ") || "nothing allowed";
}

async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"content-type": "application/json",
    "x-earshot-csrf": CSRF}, body: JSON.stringify(body || {})});
  let data = {};
  try { data = await r.json(); } catch (e) { data = {error: "no answer"}; }
  return data;
}

// -- one board ---------------------------------------------------------------------------------

function renderLink(s) {
  const p = $("link-state");
  // Household words only: device paths, URLs and serial errors stay in the terminal.
  if (s.link.state === "up") {
    p.className = "link up";
    p.textContent = "Connected to " + s.name + (s.board.board ? " (" + s.board.board + ")" : "") +
      ", " + s.where + ".";
  } else {
    p.className = "link down";
    p.textContent = s.link.state === "connecting" ? "Connecting to the board…" :
      s.link.state === "silent" ?
        "The board is not answering (" + (s.link.words || "no answer") + "): its state is " +
        "unknown until it answers again." :
      "The board is not connected (" + (s.link.words || "no answer") + "): its state is unknown.";
  }
}

function renderMute(s) {
  const box = $("mute");
  const value = s.muted === null ? "unknown" : String(s.muted);
  if (box.dataset.muted !== value) {
    box.dataset.muted = value;
    box.dataset.changedAt = String(performance.now());
  }
  // Whether audio is leaving the board, and to where, is the banner's first job: a session
  // streams (the board opened its gate, or its signed header arrived here).
  const leaving = audioLeaving(s);
  box.dataset.leaving = String(leaving);
  box.className = "mute " + (s.muted === null ? "unknown" : s.muted ? "muted" :
    leaving ? "leaving" : "listening");
  if (leaving) {
    $("mute-text").textContent = "Microphone ON: audio is LEAVING the board now";
    $("mute-detail").textContent = leavingWhere(s);
  } else if (s.muted === null) {
    $("mute-text").textContent = "Microphone: unknown";
    $("mute-detail").textContent = "The board has not said whether its microphone is on.";
  } else if (s.muted) {
    $("mute-text").textContent = "Microphone OFF";
    $("mute-detail").textContent = "Muted: the microphone's power is cut and the red mute light is on. " +
      "Only the mute button on the board turns it on again.";
  } else {
    $("mute-text").textContent = "Microphone ON";
    $("mute-detail").textContent = "Listening on the board only, for the wake word" +
      (s.board.wake_word ? " “" + s.board.wake_word + "”" : "") + ". The red mute light is off.";
  }
  $("mute-now").hidden = s.muted !== false;
}

function audioLeaving(s) {
  // The board opened its gate (its state event), or a session's signed header arrived here:
  // the banner and the streaming card both ask this one question.
  return s.muted === false && (s.streaming !== null || s.gate === "open" || s.gate === "closing");
}

function leavingWhere(s) {
  const st = s.streaming;
  const why = !st ? "A session is starting" : st.wake_word === "ptt" ?
    "Someone pressed the talk button on the board" : "The board heard “" + st.wake_word + "”";
  let where = "It goes " + s.where + ", where this page " + (st && !st.verified ?
    "cannot check it (it was started without the board's key)" : "checks it") +
    " and keeps none of it";
  if (s.pipelines.length) {
    const to = st && st.to;
    where += to === undefined || to === null ? "; the Home Assistant bridge is deciding" :
      to.length ? "; the bridge passes it on to Home Assistant (" + to.join(", ") + ")" :
      "; the bridge does not pass it on to Home Assistant";
  }
  const consent = st ? " Consent: " + st.consent_plain.preset + " (" +
    plainFlags(st.consent_plain) + ")." : "";
  return why + ". " + where + "." + consent;
}

function renderConsent(s) {
  const c = s.consent;
  const flags = $("flags");
  const sw = $("led-swatch");
  sw.setAttribute("aria-hidden", "true");
  flags.replaceChildren();
  // Who may change the board, and test mode, as the board reported them.
  $("access").textContent = s.access_text ? "Access: " + s.access_text + "." :
    "Access: unknown.";
  $("access").className = "access " + (s.access || "unknown");
  $("test-mode").hidden = !s.test_mode;
  $("test-mode").textContent = s.test_mode ? "TEST MODE: " + s.test_mode_text + "." : "";
  // The status light as the board lights it now (unlocked, a request waiting, test mode),
  // not just the setting's colour.
  const light = s.light;
  sw.className = "swatch" + (light && light.pattern !== "steady" ? " blink" : "");
  sw.style.setProperty("--rgb", light ? rgb(light.rgb) : "transparent");
  $("led-text").textContent = light ? "Status light: " + light.colour +
    (light.pattern === "steady" ? "" : ", " + light.pattern) + ". " + light.means + "." :
    "Status light: unknown.";
  if (!c) { $("preset-name").textContent = "unknown"; return; }
  $("preset-name").textContent = (c.guest ? "guest mode" : c.preset) +
    (c.guest ? " (everything off for a visitor)" : "");
  for (const p of c.plain) {
    const li = el("li", {"class": p.allowed ? "yes" : "no"});
    li.append(el("span", {"class": "words"}, p.words + ": "), el("strong", {}, yesNo(p.allowed)));
    flags.append(li);
  }
}

function renderConfirm(s) {
  const card = $("confirm-card");
  const text = $("confirm-text");
  if (countdown) { clearInterval(countdown); countdown = null; }
  if (s.pending) {
    // A request waits only so long, for someone who may be across the room: above the banner.
    $("mute").before(card);
    card.hidden = false;
    card.className = "card confirm waiting";
    $("confirm-h").textContent = "Waiting for someone at the board";
    // Which computer asked, as it named itself (the board passes it on; nothing checks it).
    $("confirm-by").textContent = s.pending.by ? "Asked by: " + s.pending.by :
      "Asked by: a computer that did not say which it is.";
    const ask = s.pending.what === "provision" ?
      "It asks to give the board a new signing key (device “" + s.pending.target +
      "”): it would change who can vouch for what the board sends. If you expected it, " +
      s.pending.gesture + ". Otherwise do nothing." :
      "It asks for “" + s.pending.target + "” (" + plainFlags(s.pending.consent) +
      "). To allow it, " + s.pending.gesture + ". Otherwise do nothing.";
    if (s.pending.seconds_left === null) { text.textContent = ask; return; }
    const deadline = performance.now() + s.pending.seconds_left * 1000;
    const tick = () => {
      const left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
      text.textContent = ask + " " + left + " s left.";
      text.dataset.secondsLeft = String(left);
    };
    tick();
    countdown = setInterval(tick, 250);
  } else if (s.outcome) {
    // An answer is history: below the banner, which says what the microphone does now (on a
    // phone, an old answer above it pushed "audio is LEAVING" off the first screen).
    $("mute").after(card);
    card.hidden = false;
    card.className = "card confirm " + s.outcome.outcome;
    $("confirm-h").textContent = "The board's answer";
    $("confirm-by").textContent = "";
    text.dataset.secondsLeft = "";
    text.textContent = s.outcome.what === "provision" ? {
      applied: "Confirmed on the board: it has a new signing key (device “" + s.outcome.target + "”).",
      expired: "Nobody confirmed the new signing key in time: the board keeps its key.",
      cancelled: "The request for a new signing key was dropped (withdrawn, or a more private choice was made).",
    }[s.outcome.outcome] || ("Outcome: " + s.outcome.outcome) : {
      applied: "Confirmed on the board: the setting is now “" + s.outcome.target + "”.",
      expired: "Nobody confirmed “" + s.outcome.target + "” in time: nothing changed.",
      cancelled: "The request for “" + s.outcome.target + "” was dropped: a more private choice was made, or the computer withdrew it.",
    }[s.outcome.outcome] || ("Outcome: " + s.outcome.outcome);
  } else {
    card.hidden = true;
  }
}

function renderChoices(s) {
  const box = $("choices");
  box.replaceChildren();
  for (const ch of s.choices) {
    const b = el("button", {"type": "button", "class": "choice" + (ch.widens ? " widens" : ""),
      "data-preset": ch.preset, "aria-pressed": String(ch.current)});
    b.append(el("strong", {}, ch.preset), el("span", {}, " " + ch.meaning),
      el("small", {}, ch.current ? "in force now" : ch.widens ? "needs the button on the board" : "applies now"));
    b.disabled = ch.current || s.link.state !== "up";
    b.addEventListener("click", () => choose(ch));
    box.append(b);
  }
  $("mute-now").disabled = s.link.state !== "up";
}

async function choose(ch) {
  const body = ch.preset === "guest" ? {guest: true} : {preset: ch.preset};
  const r = await post("/board/" + BOARD + "/consent", body);
  $("action-result").textContent = !r.ok ? "The board refused: " + r.error :
    r.reply.result === "needs_confirmation" ? "Asked. Now someone has to hold both buttons together on the board." :
    r.reply.result === "applied" ? "Asked; the board is applying it." : "Nothing to change.";
}

function renderStreaming(s) {
  const p = $("streaming");
  const st = s.streaming;
  if (st) {
    p.className = "streaming on";
    p.textContent = "Yes: audio is leaving the board now, " + (st.wake_word === "ptt" ?
      "after the talk button was pressed" : "after “" + st.wake_word + "”") + ", under consent " +
      st.consent_plain.preset + " (" + plainFlags(st.consent_plain) + "). " +
      (st.bytes / 32000).toFixed(1) + " s so far. " +
      (st.verified ? "Each piece is checked here against the board's signature." :
        "Not checked: this dashboard was started without the board's key.");
  } else if (audioLeaving(s)) {
    p.className = "streaming on";
    p.textContent = "Yes: audio is leaving the board now (its session is starting or ending).";
  } else {
    p.className = "streaming off";
    p.textContent = s.link.state === "up" ? "No: nothing is leaving the board." : "Unknown.";
  }
  const last = s.last_session;
  $("last-session").textContent = !last ? "" : last.broken ?
    "The last stream was stopped: " + last.broken + "." :
    "Last: " + (last.ms / 1000).toFixed(1) + " s after “" + last.wake_word + "”, ended (" + last.end + ").";
}

function renderBridge(s) {
  $("ha-card").hidden = s.pipelines.length === 0 && s.refusals.length === 0;
  const ul = $("pipelines");
  ul.replaceChildren();
  for (const p of s.pipelines) ul.append(el("li", {}, p.text));
  const rf = $("refusals");
  rf.replaceChildren();
  if (s.refusals.length === 0) rf.append(el("li", {}, "Nothing was held back."));
  for (const r of s.refusals) {
    rf.append(el("li", {"class": "refusal"}, new Date(r.at * 1000).toLocaleTimeString() + ": " + r.text));
  }
}

function renderState(s) {
  renderLink(s);
  renderMute(s);
  renderConsent(s);
  renderConfirm(s);
  renderChoices(s);
  renderStreaming(s);
  renderBridge(s);
}

function renderLog(payload) {
  const st = payload.log;
  const box = $("log-status");
  box.replaceChildren();
  if (st.state === "verified" && st.repair_warning) {
    // A repair at boot set entries aside: never the green "intact" until acknowledged.
    box.className = "log-status warning";
    box.append(el("p", {"class": "big"}, "LOG REPAIRED"),
      el("p", {}, "Checked on this computer: " + st.entries + " entries. But " + st.repair_warning));
  } else if (st.state === "verified") {
    box.className = "log-status ok";
    box.append(el("p", {}, "Verified on this computer: " + st.entries + " entries, the chain is intact" +
      (st.anchor ? " (older entries were dropped to keep it small, as designed)" : "") +
      (st.set_aside && st.set_aside.length ? "; a repair at start-up set " + st.set_aside.length +
        " damaged part(s) aside on the board (acknowledged at the board)" : "") + "."));
  } else if (st.state === "broken") {
    box.className = "log-status broken";
    box.append(el("p", {"class": "big"}, "LOG BROKEN"),
      el("p", {}, "The board's log does not check out: " + st.error + ". Someone or something changed " +
        "it, or it was replaced. Entries from that point on cannot be trusted; the ones shown " +
        "below are those before it."));
  } else if (st.state === "unreadable") {
    box.className = "log-status broken";
    box.append(el("p", {}, "The log could not be read: " + (st.words || st.error) + "."));
  } else {
    box.className = "log-status";
    box.append(el("p", {}, "Reading the log…"));
  }
  $("chart").innerHTML = payload.chart;
  const ol = $("timeline");
  ol.replaceChildren();
  for (const item of payload.timeline.slice().reverse()) {
    const li = el("li", {"class": "entry kind-" + item.kind, "data-seq": String(item.seq)});
    const when = item.when ? new Date(item.when * 1000).toLocaleString() :
      "date unknown (" + (item.t / 1000).toFixed(1) + " s after the board started)";
    li.append(el("time", {}, when), el("span", {}, " " + item.text));
    ol.append(li);
  }
}

// -- every board -------------------------------------------------------------------------------

const overview = {};

function renderOverview(s) {
  overview[s.id] = s;
  const ul = $("boards");
  ul.replaceChildren();
  for (const b of Object.values(overview)) {
    const li = el("li", {"class": "board " + (b.muted === null ? "unknown" : b.muted ? "muted" : "listening")});
    const a = el("a", {"href": "/board/" + b.id}, b.name);
    const state = b.muted === null ? "state unknown" : b.muted ? "Microphone OFF" : "Microphone ON";
    li.append(a, el("span", {"class": "big"}, state),
      el("span", {}, b.consent ? "consent: " + (b.consent.guest ? "guest" : b.consent.preset) +
        " (" + plainFlags(b.consent) + ")" : ""),
      el("span", {}, b.streaming ? "streaming now" : ""),
      el("span", {"class": "access"}, b.test_mode ? "TEST MODE" : b.access === "unlocked" ?
        "UNLOCKED" : ""),
      el("span", {"class": b.log.state === "broken" ? "broken" : ""},
        b.log.state === "broken" ? "LOG BROKEN" : b.log.repair_warning ? "LOG REPAIRED: see the board's page" :
          "log " + b.log.state));
    ul.append(li);
  }
  $("link-state").textContent = Object.keys(overview).length + " board(s).";
}

// -- wiring ------------------------------------------------------------------------------------

function start() {
  paintSwatches();
  if (BOARD) {
    $("mute-now").addEventListener("click", async () => {
      const r = await post("/board/" + BOARD + "/mute");
      $("action-result").textContent = r.ok ? "Asked the board to mute." : "The board refused: " + r.error;
    });
  }
  const source = new EventSource(BOARD ? "/events?board=" + encodeURIComponent(BOARD) : "/events");
  source.addEventListener("state", (e) => {
    const s = JSON.parse(e.data);
    if (BOARD) renderState(s); else renderOverview(s);
  });
  source.addEventListener("log", (e) => renderLog(JSON.parse(e.data)));
  source.onerror = () => {
    const p = $("link-state");
    p.className = "link down";
    p.textContent = "Lost contact with the dashboard; retrying…";
  };
}

document.addEventListener("DOMContentLoaded", start);
