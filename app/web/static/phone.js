// The phone page of an inventory sweep (templates/inventory/phone.html, app/web/phone.py).
//
// Every read (a tag the phone reads with Web NFC, or a label or shelf typed, scanned or chosen)
// goes into an IndexedDB queue first, with its event id; the queue is sent in batches and a read
// leaves it only once the server has answered it. The server answers a re-sent event id with its
// stored answer, so a read whose answer was lost on the way is simply sent again: each read is
// delivered exactly once, across a dead network, a reload or an expired log-in.
// No inline script anywhere (strict CSP): the page's words come in a JSON block.
"use strict";
(function () {
  const root = document.getElementById("phone");
  if (!root) { return; }
  const words = JSON.parse(document.getElementById("phone-words").textContent);
  const campaign = root.dataset.campaign;
  const $ = (id) => document.getElementById(id);
  let csrf = document.querySelector('meta[name="csrf-token"]').content;

  // Reads per request: an offline backlog goes in slices well under the server's body limit
  // (a read with its two NDEF records is about 700 bytes of JSON).
  const BATCH = 100;
  const FIRST_RETRY_MS = 1000;
  const LAST_RETRY_MS = 20000;
  // The schema's limits on what a read may carry (app/inventory/schemas.py).
  const MAX_RECORDS = 8;
  const MAX_RECORD_HEX = 512;
  const LABEL = /^[A-Z0-9_]{1,16}$/;
  const LOCATION_CODE = /^[A-Z0-9_-]{1,32}$/;

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  // crypto.randomUUID exists only in secure contexts (https); over plain http the label field
  // still works, with ids made from the same random source (RFC 9562 version 4).
  function uuid() {
    if (crypto.randomUUID) { return crypto.randomUUID(); }
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;  // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80;  // variant 10
    const h = hex(bytes);
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  // The sweep session: one per campaign, person and phone, made here (offline if need be).
  const person = campaign + "." + root.dataset.user;
  const sessionKey = "mediatrack.sweep." + person;
  const shelfKey = "mediatrack.shelf." + person;
  let session = localStorage.getItem(sessionKey);
  if (!session) {
    session = uuid();
    localStorage.setItem(sessionKey, session);
  }
  const places = new Map(
    Array.from($("shelf-choice").options, (option) => [option.value, option.textContent])
  );

  // --- the queue (IndexedDB) -------------------------------------------------------------
  const opened = new Promise((resolve, reject) => {
    const request = indexedDB.open("mediatrack-phone", 1);
    request.onupgradeneeded = () => {
      const store = request.result.createObjectStore("reads", { keyPath: "event_id" });
      store.createIndex("queue", ["campaign", "seq"]);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

  // One transaction on the store; resolves with what `work` returned once it is committed
  // (a read counts as queued only when it is on disk).
  async function transaction(mode, work) {
    const db = await opened;
    return new Promise((resolve, reject) => {
      const tx = db.transaction("reads", mode);
      const request = work(tx.objectStore("reads"));
      tx.oncomplete = () => resolve(request ? request.result : undefined);
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  }
  const mine = () => IDBKeyRange.bound([campaign, -Infinity], [campaign, Infinity]);
  let tick = 0;
  const enqueue = (read) => transaction("readwrite", (store) => store.put(
    { event_id: read.event_id, campaign: campaign, seq: Date.now() * 1000 + (tick++ % 1000), read: read }
  ));
  const oldest = (limit) => transaction("readonly", (store) => store.index("queue").getAll(mine(), limit));
  const waiting = () => transaction("readonly", (store) => store.index("queue").count(mine()));
  const forget = (ids) => transaction("readwrite", (store) => { ids.forEach((id) => store.delete(id)); });

  // --- what the person sees, hears and feels -----------------------------------------------
  // Per class: vibration pattern (ms on, off, on...) and notes [Hz, seconds] (0 Hz: a pause).
  // Good news is one short high beep; anything to act on is longer, lower, repeated.
  const SIGNALS = {
    found: { vibrate: [80], notes: [[1320, 0.1]], wave: "sine" },
    shelf: { vibrate: [40, 60, 40], notes: [[880, 0.08], [1175, 0.1]], wave: "sine" },
    misplaced: { vibrate: [200, 100, 200], notes: [[660, 0.15], [0, 0.07], [660, 0.15]], wave: "triangle" },
    unexpected: { vibrate: [300, 100, 300, 100, 300], notes: [[520, 0.18], [0, 0.07], [520, 0.18], [0, 0.07], [520, 0.18]], wave: "triangle" },
    unknown: { vibrate: [500], notes: [[330, 0.35]], wave: "square" },
    altered: { vibrate: [600, 100, 600, 100, 600], notes: [[220, 0.3], [0, 0.08], [220, 0.3], [0, 0.08], [220, 0.3]], wave: "sawtooth" },
    no_shelf: { vibrate: [400], notes: [[300, 0.3]], wave: "square" },
    out_of_scope: { vibrate: [400], notes: [[300, 0.3]], wave: "square" },
    rejected: { vibrate: [400], notes: [[300, 0.3]], wave: "square" },
    queued: { vibrate: [30], notes: [[990, 0.04]], wave: "sine" },
  };
  // Which class the big panel shows when one answer holds several reads: the one to act on.
  const SEVERITY = ["altered", "unknown", "unexpected", "misplaced", "out_of_scope", "no_shelf",
    "rejected", "shelf", "found"];

  let audio = null;
  // Browsers start sound only after a gesture: the first tap on a button opens it.
  function unlockAudio() {
    if (!audio && window.AudioContext) { audio = new AudioContext(); }
    if (audio && audio.state === "suspended") { audio.resume(); }
  }
  function play(signal) {
    if (!audio) { return; }
    let at = audio.currentTime;
    for (const [hertz, seconds] of signal.notes) {
      if (hertz) {
        const tone = audio.createOscillator();
        const gain = audio.createGain();
        tone.type = signal.wave;
        tone.frequency.value = hertz;
        gain.gain.setValueAtTime(0.3, at);
        gain.gain.exponentialRampToValueAtTime(0.001, at + seconds);
        tone.connect(gain).connect(audio.destination);
        tone.start(at);
        tone.stop(at + seconds);
      }
      at += seconds;
    }
  }
  function signal(kind) {
    const chosen = SIGNALS[kind];
    if (!chosen) { return; }
    if (navigator.vibrate) { navigator.vibrate(chosen.vibrate); }
    play(chosen);
  }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
  }
  function show(kind, word, detail, duplicate) {
    const panel = $("feedback");
    panel.className = "feedback fb-" + kind + (duplicate ? " duplicate" : "");
    panel.dataset.kind = kind;
    $("feedback-word").textContent = word;
    $("feedback-detail").textContent = detail || "";
    signal(kind);
  }
  // A shelf by its name from the scope down, as the chooser lists it (else as given).
  const placeName = (code, path) => places.get(code) || path || code;
  function describe(result) {
    const parts = [result.label, result.shelf && placeName(result.shelf)].filter(Boolean);
    return (result.duplicate ? words.duplicate + " · " : "") + parts.join(" · ");
  }
  function remember(kind, text) {
    const list = $("recent");
    const item = document.createElement("li");
    const word = document.createElement("span");
    word.className = "cls";
    word.textContent = words[kind] || kind;
    item.append(word, text ? " " + text : "");
    list.prepend(item);
    while (list.children.length > 20) { list.lastElementChild.remove(); }
  }
  function showShelf(shelf) {
    if (!shelf) { return; }
    $("shelf-name").textContent = placeName(shelf.code, shelf.path);
    const bar = $("shelf-progress");
    if (typeof shelf.expected === "number") {
      bar.hidden = false;
      bar.max = Math.max(shelf.expected, 1);
      bar.value = shelf.seen;
      $("shelf-count").textContent = fill(words.progress, shelf);
    } else {
      bar.hidden = true;
      $("shelf-count").textContent = "";
    }
  }
  function showNetwork(message) {
    $("network").hidden = !message;
    $("network").textContent = message || "";
  }
  let loggedOut = false;
  async function showWaiting() {
    const count = await waiting();
    $("waiting").textContent = String(count);
    root.dataset.waiting = String(count);
    $("login-again").hidden = !loggedOut || count === 0;
    $("login-link").textContent = fill(words.login_again, { n: count });
  }

  // --- delivery ----------------------------------------------------------------------------
  let sending = false;
  let again = false;
  let retry = null;
  let delay = FIRST_RETRY_MS;
  let batch = BATCH;

  function later() {
    clearTimeout(retry);
    retry = setTimeout(deliver, delay);
    delay = Math.min(delay * 2, LAST_RETRY_MS);
  }

  // Send the queue, oldest first, until it is empty or the server cannot take it now.
  async function deliver() {
    if (sending) { again = true; return; }
    sending = true;
    clearTimeout(retry);
    try {
      let next = true;
      while (next) {
        again = false;
        const items = await oldest(batch);
        next = items.length > 0 && await send(items);
      }
    } catch (error) {
      later();
    } finally {
      sending = false;
      await showWaiting();
      if (again) { deliver(); }
    }
  }

  // POST one batch; true when the queue moved on, false when it waits for a retry.
  async function send(items) {
    let response;
    try {
      response = await fetch(root.dataset.reads, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json", "Accept": "application/json",
                   "X-CSRF-Token": csrf },
        body: JSON.stringify({ reads: items.map((item) => item.read) }),
      });
    } catch (error) {  // no network: the reads stay queued
      showNetwork(words.offline);
      later();
      return false;
    }
    showNetwork(null);
    if (response.ok) {
      await settle(await response.json());
      loggedOut = false;
      delay = FIRST_RETRY_MS;
      batch = BATCH;
      return true;
    }
    const problem = await response.json().catch(() => ({}));
    if (response.status === 401) {
      loggedOut = true;
    } else if (response.status === 403 && problem.error === "csrf_failed") {
      // Logged in again since this page was loaded (or it came from the offline copy).
      if (await freshToken()) { return true; }
      loggedOut = true;
    } else if (response.status === 403) {
      showNetwork(words.forbidden);
    } else if (response.status === 413 && items.length > 1) {
      batch = Math.max(1, items.length >> 1);  // tags with many records: smaller slices
      return true;
    } else if (response.status === 422 && items.length > 1) {
      batch = 1;  // one of these the server will never take: find it, one read at a time
      return true;
    } else if (response.status === 422) {
      await forget([items[0].event_id]);
      remember("rejected", fill(words.refused, { detail: problem.detail || "" }));
      return true;
    } else if (response.status < 500) {
      showNetwork(fill(words.stuck, { detail: problem.detail || response.status }));
    } else {
      showNetwork(words.server_error);
    }
    later();
    return false;
  }

  // The server's answer: each answered read leaves the queue (a replayed answer too: it was
  // delivered before, its answer was lost).
  async function settle(answer) {
    await forget(answer.results.map((result) => result.event_id));
    for (const result of answer.results) { remember(result.class, describe(result)); }
    const fresh = answer.results.filter((result) => !result.replayed);
    const shown = fresh.length ? fresh : answer.results;
    const worst = shown.reduce((a, b) => (rank(b) < rank(a) ? b : a));
    let detail = describe(worst);
    if (shown.length > 1) { detail += " · " + fill(words.more, { n: shown.length - 1 }); }
    show(worst.class, words[worst.class] || worst.class, detail, worst.duplicate);
    if (answer.shelf) {
      showShelf(answer.shelf);
      localStorage.setItem(shelfKey, JSON.stringify(answer.shelf));
    }
  }
  function rank(result) {
    const at = SEVERITY.indexOf(result.class);
    return at < 0 ? SEVERITY.length : at;
  }

  // The session's token from the page as the server serves it now; true when it changed.
  async function freshToken() {
    try {
      const response = await fetch(location.pathname, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok || response.redirected) { return false; }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const meta = page.querySelector('meta[name="csrf-token"]');
      if (!meta || meta.content === csrf) { return false; }
      csrf = meta.content;
      return true;
    } catch (error) {
      return false;
    }
  }

  // --- making reads ------------------------------------------------------------------------
  async function record(subject) {
    const read = Object.assign({
      event_id: uuid(),
      session: session,
      read_at: new Date().toISOString(),
      device: "phone",
    }, subject);
    await enqueue(read);
    if (subject.location) {
      showShelf({ path: fill(words.waiting_shelf, { shelf: placeName(subject.location) }) });
    }
    show("queued", words.queued, subject.label || subject.location || subject.tag_uid, false);
    await showWaiting();
    deliver();
  }

  // The label inside our external record (readers/carrier_label.py: version, format, set n,
  // set m, key id, then the label's length and its ASCII bytes).
  function labelIn(view) {
    if (view.byteLength < 7) { return null; }
    const length = view.getUint8(5);
    if (view.byteLength < 6 + length) { return null; }
    const label = String.fromCharCode(...new Uint8Array(view.buffer, view.byteOffset + 6, length));
    return LABEL.test(label) ? label : null;
  }

  // A Web NFC reading: serialNumber "04:a1:..." (empty when the platform withholds it) and
  // the NDEF records; ours ("url" and "mediatrack:*") go along for the server's check.
  function onReading(event) {
    const records = [];
    let label = null;
    for (const item of (event.message && event.message.records) || []) {
      const ours = item.recordType === "url" || item.recordType.startsWith("mediatrack:");
      if (!ours || !item.data) { continue; }
      const data = hex(new Uint8Array(item.data.buffer, item.data.byteOffset, item.data.byteLength));
      if (data.length > MAX_RECORD_HEX || records.length === MAX_RECORDS) { continue; }
      records.push({ type: item.recordType, data: data });
      if (item.recordType === "mediatrack:carrier") { label = labelIn(item.data); }
    }
    const serial = (event.serialNumber || "").replace(/:/g, "").toUpperCase();
    if (serial) {
      record({ tag_uid: serial, records: records });
    } else if (label) {
      record({ label: label, records: records });
    } else {
      show("rejected", words.rejected, words.no_serial, false);
    }
  }

  // What a person typed or a scanner typed into the field: a label, a shelf code, or the URL
  // of a label's QR code (/c/LABEL) or a shelf's (/locations/CODE; sheets printed before it
  // carry /where?q=CODE).
  function typed(text) {
    const value = text.trim();
    const carrier = value.match(/\/c\/([A-Za-z0-9_]{1,16})\/?$/);
    if (carrier) { return { label: carrier[1].toUpperCase() }; }
    const place = value.match(/\/locations\/([^/?#]+)\/?$/) || value.match(/[?&]q=([^&#]+)/);
    const code = (place ? decodeURIComponent(place[1]) : value).toUpperCase();
    if (place || places.has(code)) { return LOCATION_CODE.test(code) ? { location: code } : null; }
    return LABEL.test(code) ? { label: code } : null;
  }

  $("label-form").addEventListener("submit", (event) => {
    event.preventDefault();
    unlockAudio();
    const field = $("label-field");
    const subject = typed(field.value);
    if (subject) {
      record(subject);
      field.value = "";
    } else {
      show("rejected", words.rejected, words.not_understood, false);
    }
    field.focus();
  });
  $("shelf-form").addEventListener("submit", (event) => {
    event.preventDefault();
    unlockAudio();
    record({ location: $("shelf-choice").value });
  });

  const start = $("start");
  if ("NDEFReader" in window) {
    start.addEventListener("click", async () => {
      unlockAudio();
      try {
        const reader = new window.NDEFReader();
        reader.addEventListener("reading", onReading);
        reader.addEventListener("readingerror", () => show("rejected", words.rejected, words.read_error, false));
        await reader.scan();
        start.disabled = true;
        $("nfc-status").textContent = words.reading;
      } catch (error) {
        $("nfc-status").textContent = error.name === "NotAllowedError"
          ? words.nfc_denied : fill(words.nfc_error, { error: error.message });
      }
    });
  } else {
    $("nfc").hidden = true;
    $("no-nfc").hidden = false;
  }

  const shelf = localStorage.getItem(shelfKey);
  if (shelf) { showShelf(JSON.parse(shelf)); }
  // Opened from a shelf's page ("Sweep this place": ?shelf=CODE): that shelf, once; the address
  // loses the code so that a reload later in the sweep does not take the person back to it.
  const fromPlace = new URLSearchParams(location.search).get("shelf");
  if (fromPlace) {
    history.replaceState(null, "", location.pathname);
    if (places.has(fromPlace)) {
      $("shelf-choice").value = fromPlace;
      record({ location: fromPlace });
    }
  }
  window.addEventListener("online", () => { delay = FIRST_RETRY_MS; deliver(); });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(root.dataset.worker, { scope: "/inventory/" }).catch(() => {});
  }
  deliver();
})();
