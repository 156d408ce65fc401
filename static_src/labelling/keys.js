// Keyboard for the comparison page: 1-4 choose (and submit), q/w/e pick the strength, r goes to
// the rationale, s opens the skip form, Esc leaves a text box. Also measures time on task (ms
// since the pair was shown) and, after htmx swaps in the next pair, moves focus to its heading.
(function () {
  "use strict";
  let shownAt = performance.now();

  function focusNewContent() {
    shownAt = performance.now();
    const target = document.querySelector("#work [data-focus-on-load]");
    if (target) target.focus({ preventScroll: false });
  }

  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
      (el.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(el.type)));
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.classList.contains("judge-form")) return;
    form.elements.time_ms.value = String(Math.round(performance.now() - shownAt));
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(document.activeElement)) {
      document.activeElement.blur();
      document.querySelector("#pair-heading")?.focus();
      return;
    }
    if (typing(document.activeElement)) return;
    // Each lease's form has its own id: htmx gives an element that keeps its id across a swap the
    // old element's attributes (its URL, its in-flight class) until the swap settles.
    const form = document.querySelector("#work form.judge-form");
    if (!form || form.closest(".htmx-request")) return;
    const key = event.key.toLowerCase();
    const button = form.querySelector('button[data-key="' + key + '"]');
    if (button) {
      event.preventDefault();
      button.click();  // a click, not requestSubmit(): htmx sends the clicked button's name and value
      return;
    }
    const radio = form.querySelector('input[name="strength"][data-key="' + key + '"]');
    if (radio) {
      event.preventDefault();
      radio.checked = !radio.checked;
      radio.focus();
      return;
    }
    if (key === "r") {
      event.preventDefault();
      form.elements.rationale.focus();
    } else if (key === "s") {
      event.preventDefault();
      const skip = document.getElementById("skip");
      skip.open = true;
      document.getElementById("skip-reason").focus();
    }
  });

  // The judgement and skip forms replace #work; focus its new heading so keys and Tab start there.
  // A key pressed before the swap settled (s, r) may already have put the labeller in a text box of
  // the new content: leave the focus there rather than pull it back mid-word.
  document.body.addEventListener("htmx:afterSettle", function () {
    if (document.querySelector("#work [data-focus-on-load]") === document.activeElement) return;
    if (typing(document.activeElement)) shownAt = performance.now();
    else focusNewContent();
  });
  focusNewContent();
})();
