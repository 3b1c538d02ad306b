// Announcement pages: a form marked data-once cannot be sent twice (its button is disabled at
// the first click), and the live progress polls the progress endpoint every 2 s while sending.
(function () {
  "use strict";

  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      if (form.getAttribute("data-sent")) { return; }
      form.setAttribute("data-sent", "1");
      // after this event: the form is sent first, then its buttons stop taking clicks
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });

  var live = document.getElementById("live");
  if (!live || live.getAttribute("data-live") !== "1") { return; }
  var url = live.getAttribute("data-url");
  function update() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url);
    xhr.onload = function () {
      if (xhr.status !== 200) { return; }
      var p = JSON.parse(xhr.responseText);
      var bar = document.getElementById("bar");
      if (bar) { bar.max = p.total; bar.value = p.done; }
      var counts = document.getElementById("counts");
      if (counts) { counts.textContent = p.done + "/" + p.total; }
      var cells = document.querySelectorAll("#progress td[data-status]");
      for (var i = 0; i < cells.length; i++) {
        cells[i].textContent = p.by_status[cells[i].getAttribute("data-status")] || 0;
      }
      var pace = document.getElementById("pace");
      if (pace) { pace.textContent = p.pace; }
      if (p.status === "sending" && !bar) { window.location.reload(); return; }
      if (p.status === "sending" || p.status === "approved") { setTimeout(update, 2000); }
      else { window.location.reload(); }
    };
    xhr.send();
  }
  setTimeout(update, 2000);
})();
