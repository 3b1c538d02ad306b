/* Loa chat for other sites. Paste one line into the portal page:
 *
 *   <script src="https://LOA-HOST/embed.js" async></script>
 *
 * It adds a round button "Hỏi Loa về tắt sóng 2G" at the bottom right of the page. The button
 * opens the Loa chat (LOA-HOST/) in a panel, which closes with its "Đóng" button or Escape.
 * The chat is only loaded when the panel is first opened. window.LoaChat.open() / .close()
 * let the page open it from its own links too.
 */
(function () {
  "use strict";

  if (window.LoaChat) return; // pasted twice

  var TITLE = "Loa – Hỏi đáp về tắt sóng 2G";
  var LAUNCH = "Hỏi Loa về tắt sóng 2G";
  var CLOSE = "Đóng";
  var CLOSE_NAME = "Đóng cửa sổ hỏi đáp Loa";

  var script = document.currentScript;
  if (!script || !script.src) {
    var all = document.getElementsByTagName("script");
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/embed\.js([?#].*)?$/.test(all[i].src)) {
        script = all[i];
        break;
      }
    }
  }
  if (!script || !script.src) return;

  var origin;
  try {
    origin = new URL(script.src, window.location.href).origin;
  } catch (e) {
    return;
  }
  var chatUrl = origin + "/";

  var CSS = [
    ":host { all: initial; }",
    ".loa-launcher, .loa-panel, .loa-close { box-sizing: border-box; margin: 0;",
    "  font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', Arial,",
    "  sans-serif; }",
    ".loa-launcher { position: fixed; right: 16px; bottom: 16px; z-index: 2147483000;",
    "  display: flex; align-items: center; gap: 10px; max-width: calc(100vw - 32px);",
    "  min-height: 60px; padding: 8px 22px 8px 10px; border: 3px solid #fff;",
    "  border-radius: 999px; background: #0a3a78; color: #fff; cursor: pointer;",
    "  font-size: 18px; font-weight: 700; line-height: 1.25; text-align: left;",
    "  box-shadow: 0 4px 16px rgba(0, 0, 0, 0.35); -webkit-tap-highlight-color: transparent; }",
    ".loa-launcher:hover { background: #072a57; }",
    ".loa-icon { flex: none; display: flex; align-items: center; justify-content: center;",
    "  width: 40px; height: 40px; border-radius: 50%; background: #ffd23f; color: #0a3a78; }",
    ".loa-icon svg { width: 24px; height: 24px; display: block; }",
    ".loa-launcher[aria-expanded='true'] { background: #1f2937; }",
    ".loa-panel { position: fixed; right: 16px; bottom: 92px; z-index: 2147483001;",
    "  width: 420px; max-width: calc(100vw - 32px); height: 680px;",
    "  max-height: calc(100vh - 112px); border-radius: 16px; overflow: hidden;",
    "  background: #e9eef5; border: 2px solid #0a3a78;",
    "  box-shadow: 0 10px 40px rgba(0, 0, 0, 0.4); }",
    ".loa-panel[hidden] { display: none; }",
    ".loa-panel iframe { display: block; width: 100%; height: 100%; border: 0; }",
    ".loa-close { position: absolute; top: 6px; right: 8px; z-index: 1;",
    "  display: flex; flex-direction: column; align-items: center; justify-content: center;",
    "  width: 60px; height: 54px; padding: 2px; border: 2px solid #fff; border-radius: 12px;",
    "  background: #0a3a78; color: #fff; cursor: pointer; font-size: 14px; font-weight: 700;",
    "  line-height: 1.1; }",
    ".loa-close .loa-x { font-size: 22px; line-height: 1; }",
    ".loa-close:hover { background: #072a57; }",
    ".loa-launcher:focus, .loa-close:focus { outline: 3px solid #111; outline-offset: 3px;",
    "  box-shadow: 0 0 0 3px #ffd23f; }",
    ".loa-launcher:focus:not(:focus-visible), .loa-close:focus:not(:focus-visible) {",
    "  outline: none; box-shadow: 0 4px 16px rgba(0, 0, 0, 0.35); }",
    "@media (max-width: 560px), (max-height: 560px) {",
    "  .loa-panel { top: 0; right: 0; bottom: 0; left: 0; width: 100%; max-width: none;",
    "    height: 100%; max-height: none; border-radius: 0; border: 0; }",
    "}",
    "@media (max-width: 360px) {",
    "  .loa-launcher { right: 8px; bottom: 8px; max-width: calc(100vw - 16px); font-size: 16px;",
    "    padding-right: 16px; }",
    "}",
    "@media print { .loa-launcher, .loa-panel { display: none; } }"
  ].join("\n");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }

  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5" +
      "a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 " +
      "1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z");
    svg.appendChild(path);
    return svg;
  }

  function addStyles(root) {
    // Constructed style sheets are not blocked by a portal's style-src policy.
    if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
        return;
      } catch (e) { /* fall back to a style element */ }
    }
    var style = el("style");
    style.textContent = root === document ? CSS.replace(":host { all: initial; }", "") : CSS;
    (root === document ? document.head || document.documentElement : root).appendChild(style);
  }

  var launcher;
  var panel;
  var iframe = null;

  function isOpen() {
    return !!panel && !panel.hidden;
  }

  function askFocus() {
    try {
      iframe.contentWindow.postMessage({ type: "loa:focus" }, origin);
    } catch (e) { /* not loaded yet */ }
  }

  function open() {
    if (!panel) return;
    if (!iframe) {
      iframe = el("iframe");
      iframe.title = TITLE;
      iframe.src = chatUrl;
      iframe.addEventListener("load", function () {
        if (isOpen()) askFocus();
      });
      panel.appendChild(iframe);
    }
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    try {
      iframe.focus();
    } catch (e) { /* ignore */ }
    askFocus();
  }

  function close() {
    if (!isOpen()) return;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  function build() {
    var host = el("div");
    host.id = "loa-chat-embed";
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : null;
    addStyles(root || document);
    var container = root || host;

    launcher = el("button", "loa-launcher");
    launcher.type = "button";
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "loa-panel");
    var icon = el("span", "loa-icon");
    icon.appendChild(chatIcon());
    launcher.appendChild(icon);
    launcher.appendChild(el("span", "loa-label", LAUNCH));

    panel = el("div", "loa-panel");
    panel.id = "loa-panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", TITLE);

    var closeBtn = el("button", "loa-close");
    closeBtn.type = "button";
    closeBtn.setAttribute("aria-label", CLOSE_NAME);
    var x = el("span", "loa-x", "✕");
    x.setAttribute("aria-hidden", "true");
    closeBtn.appendChild(x);
    closeBtn.appendChild(el("span", "", CLOSE));
    panel.appendChild(closeBtn);

    launcher.addEventListener("click", function () {
      if (isOpen()) close();
      else open();
    });
    closeBtn.addEventListener("click", close);

    document.addEventListener("keydown", function (e) {
      if ((e.key === "Escape" || e.key === "Esc" || e.keyCode === 27) && isOpen()) close();
    });
    // Escape pressed inside the chat arrives as a message from the chat page.
    window.addEventListener("message", function (e) {
      if (e.origin !== origin || !iframe || e.source !== iframe.contentWindow) return;
      if (e.data && e.data.type === "loa:close") close();
    });

    container.appendChild(panel);
    container.appendChild(launcher);
    document.body.appendChild(host);
  }

  window.LoaChat = { open: open, close: close };

  if (document.body) {
    build();
  } else {
    document.addEventListener("DOMContentLoaded", build);
  }
})();
