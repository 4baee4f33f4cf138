/* concurrency-ui: the little behaviour htmx attributes cannot express without eval.
 *
 * The Content-Security-Policy forbids inline scripts and eval, so htmx event filters
 * (`hx-trigger="every 3s [expression]"`) cannot run. A polling element instead names, in
 * `data-poll-pause`, what must not be replaced under the user's eyes (an open log, a
 * focused input): while the element contains a match, its polls are skipped. Refreshes
 * triggered by an event (`runs-changed from:body`) still happen.
 */
"use strict";

document.addEventListener("htmx:confirm", function (event) {
  var elt = event.detail.elt;
  var selector = elt && elt.getAttribute && elt.getAttribute("data-poll-pause");
  if (!selector || event.detail.triggeringEvent) {
    return; // not a pausable element, or not a poll
  }
  if (elt.querySelector(selector)) {
    event.preventDefault();
  }
});

/* Colour scheme: "auto" follows the system (Pico's prefers-color-scheme rules), "light" or
 * "dark" are set as <html data-theme>, kept in localStorage. The button cycles them. */
(function () {
  var KEY = "concurrency-ui-theme";
  var ORDER = ["auto", "light", "dark"];
  function stored() {
    try { return localStorage.getItem(KEY) || "auto"; } catch (e) { return "auto"; }
  }
  function apply(choice) {
    if (choice === "light" || choice === "dark") {
      document.documentElement.setAttribute("data-theme", choice);
    } else {
      document.documentElement.removeAttribute("data-theme");
    }
    var buttons = document.querySelectorAll("[data-theme-toggle]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].textContent = "Theme: " + choice;
    }
  }
  apply(stored());
  document.addEventListener("DOMContentLoaded", function () { apply(stored()); });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-theme-toggle]");
    if (!button) { return; }
    var next = ORDER[(ORDER.indexOf(stored()) + 1) % ORDER.length];
    try { localStorage.setItem(KEY, next); } catch (e) { /* private mode: this page only */ }
    apply(next);
  });
})();
