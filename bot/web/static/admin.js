/* Small behaviours of the admin pages. The pages send a Content-Security-Policy without
 * inline script (bot/web/security.py), so page code lives here, attached by data attributes. */
(function () {
  "use strict";

  // Leaflets page: keep the one-click log forms on the commune chosen above.
  var commune = document.getElementById("commune");
  if (commune && document.querySelector(".kit-commune")) {
    commune.addEventListener("change", function (e) {
      document.querySelectorAll(".kit-commune").forEach(function (i) { i.value = e.target.value; });
    });
  }

  // A confirmation form acts once: its button stops taking clicks after the first.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });

  // Buttons that print the page (loudspeaker script).
  document.querySelectorAll("[data-action=print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
