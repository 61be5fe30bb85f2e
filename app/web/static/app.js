// MediaTrack pages: the CSRF header on htmx requests, focus back to the scan field after each
// desk action, and the live-connection status. No inline scripts anywhere (CSP).
"use strict";
(function () {
  var token = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (token) { event.detail.headers["X-CSRF-Token"] = token.content; }
  });
  function focusScan() {
    var field = document.getElementById("scan-field");
    if (field) { field.value = ""; field.focus(); }
  }
  // After every scan and every action the field is ready for the next tap or scan; the
  // card's actions follow it in the tab order.
  document.body.addEventListener("htmx:afterSwap", focusScan);
  document.body.addEventListener("htmx:sseMessage", function () { focusScan(); });
  function liveStatus(text, ok) {
    var live = document.getElementById("live-status");
    if (!live) { return; }
    live.textContent = live.dataset[text] || text;
    live.className = ok ? "live ok" : "live down";
  }
  document.body.addEventListener("htmx:sseOpen", function () { liveStatus("connected", true); });
  document.body.addEventListener("htmx:sseError", function () { liveStatus("disconnected", false); });
})();
