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
