/* Loa web chat: talks to POST /api/chat and shows the conversation.
 *
 * Plain ES5-style JavaScript on purpose (no build step, old phone browsers). Every text from
 * the server is put in the page with textContent, never as HTML.
 */
(function () {
  "use strict";

  var API = "/api/chat";
  var MAX_LEN = 2000;
  var NEAR_LEN = 1800;
  var SESSION_KEY = "loa.session";
  var HISTORY_KEY = "loa.history.v1";
  var BIG_KEY = "loa.bigText";
  var SESSION_RE = /^[A-Za-z0-9_-]{22,64}$/;
  var RETRY_DELAYS = [1000, 2000, 4000, 8000]; // then the user decides
  var TIMEOUT_MS = 25000;
  var MAX_HISTORY = 150;

  var T = {
    offline: "Không kết nối được. Đang thử lại…",
    offlineFinal: "Không kết nối được. Bạn kiểm tra mạng (Wi-Fi hoặc 4G) rồi bấm “Thử lại”.",
    retry: "Thử lại",
    generic: "Loa đang gặp trục trặc. Bạn thử lại sau ít phút nhé.",
    loa: "Loa",
    you: "Bạn: ",
    audio: "Nghe Loa đọc:",
    audioName: "Nghe Loa đọc câu trả lời",
    choices: "Các lựa chọn",
    near: "Còn {n} ký tự.",
    full: "Đã đủ 2000 ký tự, Loa chỉ đọc tới đây. Bạn có thể gửi phần này trước rồi viết tiếp."
  };

  // ---- small helpers ----------------------------------------------------------------------

  function $(id) {
    return document.getElementById(id);
  }

  function make(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // Hotlines and phone numbers as tap-to-call links that never wrap inside the number:
  // 1800 8098, 1800 1091, 9090, 1900 xxxx, and mobile or landline numbers (0xx… 9–11 digits).
  var PHONE = /(?:\b1[89]00[ .]?\d{3}[ .]?\d{1,3}\b|\b9090\b|\b0\d{2,3}[ .]?\d{3}[ .]?\d{3,4}\b)/g;

  function textWithCalls(text) {
    var p = make("p", "text");
    var at = 0;
    text.replace(PHONE, function (number, index) {
      if (index > at) p.appendChild(document.createTextNode(text.slice(at, index)));
      var link = make("a", "tel", number);
      link.href = "tel:" + number.replace(/[ .]/g, "");
      p.appendChild(link);
      at = index + number.length;
      return number;
    });
    if (at < text.length) p.appendChild(document.createTextNode(text.slice(at)));
    return p;
  }

  function storage(kind) {
    try {
      var s = window[kind];
      s.setItem("loa.probe", "1");
      s.removeItem("loa.probe");
      return s;
    } catch (e) {
      return null; // storage blocked (private mode, strict third-party settings)
    }
  }

  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  function randomId(length) {
    var bytes = new Uint8Array(length);
    var c = window.crypto || window.msCrypto;
    var i;
    if (c && c.getRandomValues) {
      c.getRandomValues(bytes);
    } else {
      for (i = 0; i < length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    var out = "";
    for (i = 0; i < length; i++) out += ALPHABET.charAt(bytes[i] & 63);
    return out;
  }

  function isCoarse() {
    return !!(window.matchMedia && window.matchMedia("(pointer: coarse)").matches);
  }

  var embedded = false;
  try {
    embedded = window.self !== window.top;
  } catch (e) {
    embedded = true;
  }

  // ---- page elements and state ------------------------------------------------------------

  var root = document.documentElement;
  var log = $("log");
  var form = $("composer");
  var input = $("msg");
  var sendBtn = $("send");
  var typing = $("typing");
  var limit = $("limit");
  var announcer = $("announcer");
  var sizeBtn = $("textsize");

  var local = storage("localStorage");
  var sessionStore = storage("sessionStorage");

  var session = readSession();
  var history = readHistory();
  var busy = false;
  var offlineLine = null; // the "trying again" system line while retrying
  var retryLine = null; // the system line with the "Thử lại" button
  var retryRequest = null;
  var wasFull = false;

  function readSession() {
    var value = local && local.getItem(SESSION_KEY);
    if (!value || !SESSION_RE.test(value)) {
      value = randomId(32);
      if (local) {
        try {
          local.setItem(SESSION_KEY, value);
        } catch (e) { /* keep it for this page only */ }
      }
    }
    return value;
  }

  function readHistory() {
    if (!sessionStore) return [];
    try {
      var data = JSON.parse(sessionStore.getItem(HISTORY_KEY) || "[]");
      return Array.isArray(data) ? data : [];
    } catch (e) {
      return [];
    }
  }

  function saveHistory() {
    if (!sessionStore) return;
    if (history.length > MAX_HISTORY) history = history.slice(history.length - MAX_HISTORY);
    for (var tries = 0; tries < 4; tries++) {
      try {
        sessionStore.setItem(HISTORY_KEY, JSON.stringify(history));
        return;
      } catch (e) {
        history = history.slice(Math.ceil(history.length / 2)); // full: keep the newer half
      }
    }
  }

  // ---- validating what the server sent ----------------------------------------------------

  function safeAudio(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      var url = new URL(value, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? value : null;
    } catch (e) {
      return null;
    }
  }

  function cleanMessage(m) {
    if (!m || typeof m !== "object") return null;
    var text = typeof m.text === "string" ? m.text : "";
    var rows = [];
    if (Array.isArray(m.buttons)) {
      m.buttons.forEach(function (row) {
        var out = [];
        (Array.isArray(row) ? row : [row]).forEach(function (b) {
          if (b && typeof b.label === "string" && typeof b.choice === "string" &&
              b.label && b.choice) {
            out.push({ label: b.label, choice: b.choice });
          }
        });
        if (out.length) rows.push(out);
      });
    }
    var audio = safeAudio(m.audio);
    if (!text && !rows.length && !audio) return null;
    return { text: text, buttons: rows, audio: audio };
  }

  // ---- drawing the conversation -----------------------------------------------------------

  function addUser(text, pending) {
    var node = make("div", "msg user" + (pending ? " pending" : ""));
    node.appendChild(make("span", "sr-only", T.you));
    node.appendChild(make("p", "text", text));
    log.appendChild(node);
    return node;
  }

  function addBot(m) {
    var node = make("article", "msg bot");
    node.appendChild(make("span", "who", T.loa));
    if (m.text) node.appendChild(textWithCalls(m.text));
    if (m.audio) {
      var wrap = make("div", "audio-wrap");
      wrap.appendChild(make("span", "audio-label", T.audio));
      var audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = m.audio;
      audio.setAttribute("aria-label", T.audioName);
      wrap.appendChild(audio);
      node.appendChild(wrap);
    }
    if (m.buttons && m.buttons.length) {
      var group = make("div", "choices");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", T.choices);
      m.buttons.forEach(function (row) {
        var line = make("div", "row");
        row.forEach(function (b) {
          var button = make("button", "choice", b.label);
          button.type = "button";
          button.setAttribute("data-choice", b.choice);
          line.appendChild(button);
        });
        group.appendChild(line);
      });
      node.appendChild(group);
    }
    log.appendChild(node);
    return node;
  }

  function addSystem(text, withRetry) {
    var node = make("div", "msg system");
    node.setAttribute("role", "alert");
    node.appendChild(make("span", "icon", "⚠"));
    node.appendChild(make("p", "text", text));
    if (withRetry) {
      var button = make("button", "retry", T.retry);
      button.type = "button";
      node.appendChild(button);
    }
    log.appendChild(node);
    return node;
  }

  function remove(node) {
    if (node && node.parentNode) node.parentNode.removeChild(node);
  }

  function markCurrent() {
    var bots = log.querySelectorAll(".msg.bot");
    for (var i = 0; i < bots.length; i++) {
      bots[i].className = "msg bot" + (i === bots.length - 1 ? " current" : "");
    }
  }

  function scrollToBottom() {
    log.scrollTop = log.scrollHeight;
  }

  // Show a new answer from its start: long answers must not open at their last line.
  function reveal(anchor) {
    if (!anchor) return scrollToBottom();
    var top = anchor.offsetTop - 8;
    var bottom = log.scrollHeight - log.clientHeight;
    log.scrollTop = Math.max(0, Math.min(top, bottom));
  }

  function announce(text) {
    announcer.textContent = "";
    window.setTimeout(function () {
      announcer.textContent = text;
    }, 80);
  }

  // ---- input box --------------------------------------------------------------------------

  function autosize() {
    input.style.height = "auto";
    if (input.value) input.style.height = input.scrollHeight + 4 + "px";
  }

  function updateLimit() {
    var n = input.value.length;
    var full = n >= MAX_LEN;
    if (full) {
      limit.textContent = T.full;
    } else if (n >= NEAR_LEN) {
      limit.textContent = T.near.replace("{n}", String(MAX_LEN - n));
    } else {
      limit.textContent = "";
    }
    if (full && !wasFull) announce(T.full);
    wasFull = full;
  }

  function restoreText(text) {
    var current = input.value;
    if (!current.replace(/\s+/g, "")) {
      input.value = text;
    } else if (current.indexOf(text) === -1) {
      input.value = (text + "\n" + current).slice(0, MAX_LEN);
    }
    autosize();
    updateLimit();
  }

  function focusInput() {
    try {
      input.focus({ preventScroll: true });
    } catch (e) {
      input.focus();
    }
  }

  // After an answer keep the keyboard user in the input box. On touch screens, do not pop up
  // the on-screen keyboard over the answer when a button was tapped.
  function settleFocus(source) {
    var active = document.activeElement;
    var ours = !active || active === document.body || active === input ||
      active === sendBtn || active === log ||
      (active.className && /\b(choice|retry)\b/.test(active.className));
    if (!ours) return;
    if (source === "input" || !isCoarse()) {
      if (source !== "auto" || !embedded) focusInput();
    } else if (active && active !== document.body && active.blur) {
      active.blur();
    }
  }

  function setBusy(value) {
    busy = value;
    sendBtn.disabled = value;
    typing.hidden = !value;
    if (value) {
      log.className = "log busy";
    } else {
      log.className = "log";
    }
  }

  // ---- talking to the server --------------------------------------------------------------

  // Resolves {ok: true, messages} or {ok: false, error}; rejects on a network failure (or an
  // answer that is clearly not from Loa, e.g. a proxy page), which is retried with the same id.
  function post(body) {
    return new Promise(function (resolve, reject) {
      var done = false;
      var controller = window.AbortController ? new window.AbortController() : null;
      var timer = window.setTimeout(function () {
        if (done) return;
        done = true;
        if (controller) controller.abort();
        reject(new Error("timeout"));
      }, TIMEOUT_MS);
      var options = {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store"
      };
      if (controller) options.signal = controller.signal;
      function finish(fn, value) {
        if (done) return;
        done = true;
        window.clearTimeout(timer);
        fn(value);
      }
      window.fetch(API, options).then(function (res) {
        return res.text().then(function (raw) {
          var data = null;
          try {
            data = JSON.parse(raw);
          } catch (e) {
            data = null;
          }
          if (res.status === 200) {
            if (data && Array.isArray(data.messages)) {
              finish(resolve, { ok: true, messages: data.messages });
            } else {
              finish(reject, new Error("bad answer"));
            }
          } else if (data && typeof data.error === "string" && data.error) {
            finish(resolve, { ok: false, error: data.error });
          } else if (res.status === 502 || res.status === 504 || res.status === 408) {
            finish(reject, new Error("gateway " + res.status));
          } else {
            finish(resolve, { ok: false, error: T.generic });
          }
        });
      }).then(null, function (err) {
        finish(reject, err);
      });
    });
  }

  function clearRetry() {
    remove(retryLine);
    retryLine = null;
    retryRequest = null;
  }

  function send(kind, value, options) {
    if (busy) return false;
    clearRetry();
    var body = { session: session, id: randomId(20) };
    body[kind] = value;
    var request = {
      body: body,
      kind: kind,
      shown: kind === "text" ? value : (options && options.label) || "",
      source: (options && options.source) || "input",
      bubble: null
    };
    run(request);
    return true;
  }

  function run(request) {
    if (request.kind !== "command" && request.shown) {
      request.bubble = addUser(request.shown, true);
    }
    setBusy(true);
    scrollToBottom();
    var attempt = 0;

    function go() {
      post(request.body).then(function (result) {
        if (result.ok) {
          succeeded(request, result.messages);
        } else {
          failed(request, result.error, false);
        }
      }, function () {
        if (attempt < RETRY_DELAYS.length) {
          if (!offlineLine) {
            offlineLine = addSystem(T.offline, false);
            scrollToBottom();
          }
          var delay = RETRY_DELAYS[attempt] + Math.floor(Math.random() * 400);
          attempt += 1;
          window.setTimeout(go, delay);
        } else {
          failed(request, T.offlineFinal, true);
        }
      });
    }
    go();
  }

  function succeeded(request, raw) {
    remove(offlineLine);
    offlineLine = null;
    setBusy(false);
    if (request.bubble) {
      request.bubble.className = "msg user";
      history.push({ w: "u", t: request.shown });
    }
    var first = null;
    var spoken = [];
    raw.forEach(function (item) {
      var m = cleanMessage(item);
      if (!m) return;
      var node = addBot(m);
      if (!first) first = node;
      if (m.text) spoken.push(m.text);
      history.push({ w: "b", t: m.text, b: m.buttons, a: m.audio });
    });
    markCurrent();
    saveHistory();
    reveal(request.bubble || first);
    if (spoken.length) announce(T.loa + ": " + spoken.join("\n\n"));
    settleFocus(request.source);
  }

  function failed(request, message, canRetry) {
    remove(offlineLine);
    offlineLine = null;
    setBusy(false);
    remove(request.bubble);
    request.bubble = null;
    if (request.kind === "text") restoreText(request.body.text);
    // Without the greeting there is nothing to press, so offer "Thử lại" for it too.
    if (request.kind === "command") canRetry = true;
    var line = addSystem(message, canRetry);
    if (canRetry) {
      retryLine = line;
      retryRequest = request;
    }
    scrollToBottom();
    settleFocus(request.source);
  }

  function retryNow() {
    if (busy || !retryRequest) return;
    var request = retryRequest;
    remove(retryLine);
    retryLine = null;
    retryRequest = null;
    if (request.kind === "text" && input.value === request.body.text) {
      input.value = "";
      autosize();
      updateLimit();
    }
    run(request); // the same message id: the server answers a repeat only once
  }

  function submitText() {
    var text = input.value.replace(/^\s+|\s+$/g, "");
    if (!text) {
      input.value = "";
      autosize();
      focusInput();
      return;
    }
    if (busy) return; // keep the text; it can be sent when Loa has answered
    input.value = "";
    autosize();
    updateLimit();
    send("text", text.slice(0, MAX_LEN), { source: "input" });
  }

  // ---- events -----------------------------------------------------------------------------

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    submitText();
  });

  input.addEventListener("keydown", function (e) {
    if ((e.key === "Enter" || e.keyCode === 13) && !e.shiftKey && !e.altKey && !e.ctrlKey &&
        !e.metaKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submitText();
    }
  });

  input.addEventListener("input", function () {
    autosize();
    updateLimit();
  });

  log.addEventListener("click", function (e) {
    var target = e.target;
    if (!target || !target.closest) return;
    var retry = target.closest("button.retry");
    if (retry) {
      retryNow();
      return;
    }
    var button = target.closest("button.choice");
    if (!button || busy) return;
    send("choice", button.getAttribute("data-choice"), {
      label: button.textContent,
      source: "button"
    });
  });

  window.addEventListener("online", function () {
    if (retryRequest && !busy) retryNow();
  });

  var stuckToBottom = true;
  log.addEventListener("scroll", function () {
    stuckToBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  });
  window.addEventListener("resize", function () {
    if (stuckToBottom) scrollToBottom(); // e.g. the on-screen keyboard opened
  });

  function applySize(big) {
    if (big) {
      root.className += /\bbig\b/.test(root.className) ? "" : " big";
    } else {
      root.className = root.className.replace(/\s*\bbig\b/g, "");
    }
    sizeBtn.setAttribute("aria-pressed", big ? "true" : "false");
  }

  sizeBtn.addEventListener("click", function () {
    var big = sizeBtn.getAttribute("aria-pressed") !== "true";
    applySize(big);
    if (local) {
      try {
        local.setItem(BIG_KEY, big ? "1" : "0");
      } catch (e) { /* not remembered */ }
    }
    autosize();
  });

  // Inside the portal's panel (embed.js): Escape closes the panel; the panel asks us to focus
  // the input box when it opens.
  if (embedded) {
    root.className += " embedded";
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" || e.key === "Esc" || e.keyCode === 27) {
        try {
          window.parent.postMessage({ type: "loa:close" }, "*");
        } catch (err) { /* no parent */ }
      }
    });
    window.addEventListener("message", function (e) {
      if (e.source === window.parent && e.data && e.data.type === "loa:focus" && !isCoarse()) {
        focusInput();
      }
    });
  }

  // ---- start ------------------------------------------------------------------------------

  applySize(!!(local && local.getItem(BIG_KEY) === "1"));

  var restored = 0;
  history.forEach(function (item) {
    if (!item || typeof item !== "object") return;
    if (item.w === "u" && typeof item.t === "string") {
      addUser(item.t, false);
      restored += 1;
    } else if (item.w === "b") {
      var m = cleanMessage({ text: item.t, buttons: item.b, audio: item.a });
      if (m) {
        addBot(m);
        restored += 1;
      }
    }
  });

  if (restored) {
    markCurrent();
    var bots = log.querySelectorAll(".msg.bot");
    reveal(bots.length ? bots[bots.length - 1] : null);
    if (!embedded && !isCoarse()) focusInput();
  } else {
    history = [];
    send("command", "start", { source: "auto" });
  }
})();
