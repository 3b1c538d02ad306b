// Live progress of an announcement: polls the progress endpoint every 2 s while it is sent.
(function () {
  var script = document.currentScript;
  var url = script.getAttribute("data-url");
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
      var rate = document.getElementById("rate");
      if (rate) { rate.textContent = p.rate + " tin/giây" + (p.eta_s ? " · còn khoảng " + Math.ceil(p.eta_s / 60) + " phút" : ""); }
      if (p.status === "sending" || p.status === "approved") { setTimeout(update, 2000); }
      else { window.location.reload(); }
    };
    xhr.send();
  }
  setTimeout(update, 2000);
})();
