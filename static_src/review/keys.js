// Keyboard for the review page: 1-4 pick the override's choice, a / o / s accept, override or send
// back, r goes to the reason, n opens the next pair, Esc leaves a text box.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
      (el.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(el.type)));
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(document.activeElement)) {
      document.activeElement.blur();
      document.getElementById("pair-heading")?.focus();
      return;
    }
    if (typing(document.activeElement)) return;
    const form = document.getElementById("decision-form");
    if (!form) return;
    const key = event.key.toLowerCase();
    const radio = form.querySelector('input[name="choice"][data-key="' + key + '"]');
    if (radio) {
      event.preventDefault();
      radio.checked = true;
      radio.focus();
      return;
    }
    const target = form.querySelector('[data-key="' + key + '"]');
    if (target) {
      event.preventDefault();
      target.click();  // a click: the form sends the clicked button's name and value
      return;
    }
    if (key === "r") {
      event.preventDefault();
      form.elements.reason.focus();
    }
  });
})();
