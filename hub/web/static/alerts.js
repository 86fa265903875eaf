// carehub alert board: live over Server-Sent Events, actions by fetch, optional beep.
// Without JavaScript the forms still work (POST, redirect back to the board).
"use strict";
(function () {
  const board = document.getElementById("board");
  if (!board) { return; }
  const view = board.dataset.view || "day";
  const announce = document.getElementById("announce");
  const empty = document.getElementById("empty");
  const liveState = document.getElementById("live-state");
  const soundButton = document.getElementById("sound");
  let audio = null;
  let soundOn = false;

  // --- sound: off by default; the choice is kept on this device ---------------------------
  function setSound(on) {
    soundOn = on;
    soundButton.setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem("carehub.alertSound", on ? "1" : "0"); } catch (e) { /* private mode */ }
  }
  function beep(severity) {
    if (!soundOn) { return; }
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const urgent = severity === "high" || severity === "critical";
      const tones = urgent ? [880, 660, 880] : [660];
      tones.forEach(function (freq, i) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        const start = audio.currentTime + i * 0.25;
        osc.type = "sine";
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, start);
        gain.gain.exponentialRampToValueAtTime(0.3, start + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.2);
        osc.connect(gain).connect(audio.destination);
        osc.start(start);
        osc.stop(start + 0.22);
      });
    } catch (e) { console.error(e); }
  }
  if (soundButton) {
    soundButton.hidden = false;
    let stored = null;
    try { stored = localStorage.getItem("carehub.alertSound"); } catch (e) { /* private mode */ }
    setSound(stored === "1");
    // Browsers allow audio only after a user gesture: this click is it.
    soundButton.addEventListener("click", function () { setSound(!soundOn); if (soundOn) { beep("low"); } });
  }

  // --- the list -----------------------------------------------------------------------------
  function say(text) {
    announce.textContent = "";
    window.setTimeout(function () { announce.textContent = text; }, 50);
  }
  function refreshEmpty() { empty.hidden = board.querySelector("li.alert") !== null; }
  function parse(html) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    return tpl.content.firstElementChild;
  }
  function busy(card) {
    // Do not replace a card while someone is typing in it.
    return card && card.contains(document.activeElement) && document.activeElement.tagName === "INPUT" && document.activeElement.value;
  }
  function place(fresh, isNew) {
    const old = document.getElementById(fresh.id);
    if (fresh.dataset.status === "resolved") {
      if (old) { old.remove(); }
      refreshEmpty();
      return;
    }
    if (old) {
      if (!busy(old)) {
        const hadFocus = old.contains(document.activeElement);
        old.replaceWith(fresh);
        const heading = fresh.querySelector("h2");
        if (hadFocus && heading) { heading.focus(); }
      }
    } else if (isNew) {
      fresh.classList.add("fresh");
      board.prepend(fresh);
    }
    refreshEmpty();
  }
  function fetchCard(id) {
    return fetch("/alerts/card/" + encodeURIComponent(id) + "?view=" + view, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; });
  }
  function reloadAll() {
    fetch("/alerts/cards?view=" + view, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { board.innerHTML = html; refreshEmpty(); } })
      .catch(function () {});
  }

  // --- live updates -------------------------------------------------------------------------
  let source = null;
  let lost = false;
  function connect() {
    source = new EventSource("/alerts/stream");
    source.onopen = function () {
      liveState.textContent = liveState.dataset.ok;
      if (lost) { reloadAll(); }  // changes made while we were away
      lost = false;
    };
    source.onerror = function () {
      lost = true;
      liveState.textContent = liveState.dataset.lost;
      // A refused stream (e.g. the server restarted) is not retried by the browser itself.
      if (source.readyState === EventSource.CLOSED) { window.setTimeout(connect, 5000); }
    };
    source.addEventListener("ended", function () { source.close(); window.location.assign("/login?next=/alerts"); });
    source.addEventListener("alert", function (e) {
      let msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      const known = document.getElementById("alert-" + msg.id) !== null;
      if (msg.status === "resolved") {
        const card = document.getElementById("alert-" + msg.id);
        if (card) { card.remove(); refreshEmpty(); }
        return;
      }
      fetchCard(msg.id).then(function (html) {
        if (html === null) { return; }
        const fresh = parse(html);
        place(fresh, true);
        if (!known && (msg.action === "raised" || msg.action === "rerouted")) {
          say(announce.dataset.new + " " + fresh.dataset.label);
          beep(msg.severity);
        } else if (msg.action === "escalated" || (msg.action === "repeated" && msg.status === "open")) {
          beep(msg.severity);
        }
      }).catch(function () {});
    });
  }
  connect();

  // --- actions by fetch ---------------------------------------------------------------------
  board.addEventListener("submit", function (e) {
    const form = e.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    e.preventDefault();
    const card = form.closest("li.alert");
    const error = card ? card.querySelector("p.error") : null;
    const body = new FormData(form, e.submitter || undefined);
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = true; });
    fetch(form.action, { method: "POST", body: body, credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) {
        return r.text().then(function (text) {
          if (!r.ok) { throw new Error(r.status === 409 ? (JSON.parse(text).detail || text) : text); }
          return text;
        });
      })
      .then(function (html) {
        const fresh = parse(html);
        if (fresh.dataset.status === "resolved") {
          const next = card.nextElementSibling || card.previousElementSibling;
          say(announce.dataset.resolved + " " + fresh.dataset.label);
          card.remove();
          refreshEmpty();
          const target = next ? next.querySelector("h2") : document.querySelector("h1");
          if (target) { target.setAttribute("tabindex", "-1"); target.focus(); }
        } else {
          card.replaceWith(fresh);
          const heading = fresh.querySelector("h2");
          if (heading) { heading.focus(); }
        }
      })
      .catch(function (err) {
        Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = false; });
        if (error) { error.textContent = err.message; error.hidden = false; }
      });
  });
})();
