// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Phones: the main navigation folds behind a Menu button (without scripts it wraps instead).
  function setupNavToggle() {
    var toggle = document.querySelector(".nav-toggle");
    if (!toggle) return;
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      toggle.textContent = open ? "Close" : "Menu";
    });
  }

  // Proposal form: add and remove milestone rows (a Django formset), and show the running total.
  function setupMilestones(form) {
    var rows = form.querySelector("#milestone-rows");
    var template = form.querySelector("#milestone-template");
    var total = form.querySelector('input[name="milestones-TOTAL_FORMS"]');
    var addButton = form.querySelector("[data-add-milestone]");
    var totalLabel = form.querySelector("[data-milestone-total]");
    var price = form.querySelector('input[name="price"]');
    var currency = form.getAttribute("data-currency") || "";
    if (!rows || !template || !total || !addButton) return;

    function parse(value) {
      var number = parseFloat(String(value || "").replace(/,/g, ""));
      return isNaN(number) ? 0 : number;
    }

    // Rows are numbered 0..n-1 in their names and ids; keep that true after a removal.
    function renumber() {
      var all = rows.querySelectorAll("[data-milestone-row]");
      all.forEach(function (row, index) {
        row.querySelectorAll("[name], [id], label[for]").forEach(function (element) {
          ["name", "id", "for"].forEach(function (attribute) {
            var value = element.getAttribute(attribute);
            if (value) element.setAttribute(attribute, value.replace(/milestones-\d+-/, "milestones-" + index + "-"));
          });
        });
        var remove = row.querySelector("[data-remove-milestone]");
        if (remove) remove.hidden = all.length < 2;
      });
      total.value = String(all.length);
    }

    function updateTotal() {
      if (!totalLabel) return;
      var sum = 0;
      rows.querySelectorAll('input[name$="-amount"]').forEach(function (input) {
        sum += parse(input.value);
      });
      var target = parse(price && price.value);
      var text = "Milestones total " + sum.toLocaleString(undefined, { maximumFractionDigits: 2 }) + " " + currency;
      if (target) {
        var diff = Math.round((target - sum) * 100) / 100;
        text += diff === 0 ? " ✓ matches the price" : " (" + (diff > 0 ? diff + " left to assign" : -diff + " over the price") + ")";
      }
      totalLabel.textContent = text;
      totalLabel.classList.toggle("ok", target > 0 && Math.abs(target - sum) < 0.005);
    }

    addButton.addEventListener("click", function () {
      var index = parseInt(total.value, 10) || 0;
      var html = template.innerHTML.replace(/__prefix__/g, String(index));
      var wrapper = document.createElement("div");
      wrapper.innerHTML = html.trim();
      var row = wrapper.firstElementChild;
      rows.appendChild(row);
      renumber();
      var first = row.querySelector("input");
      if (first) first.focus();
    });

    rows.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove-milestone]");
      if (!button) return;
      button.closest("[data-milestone-row]").remove();
      renumber();
      updateTotal();
    });

    form.addEventListener("input", updateTotal);
    renumber();
    updateTotal();
  }

  function init(root) {
    root.querySelectorAll("#proposal-form").forEach(setupMilestones);
  }

  // A form that came back with errors: bring the first one into view and put the cursor in its field.
  function focusFirstError(root) {
    var field = root.querySelector(".field.has-error");
    var control = field && field.querySelector("input:not([type=hidden]), select, textarea");
    var target = control || root.querySelector(".form-errors, .field-error");
    if (!target) return;
    target.scrollIntoView({ block: "center" });
    if (control) control.focus({ preventScroll: true });
  }

  // Ask before irreversible actions: the button's own question, else the form's.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = (button && button.getAttribute("data-confirm")) ||
      (event.target.getAttribute && event.target.getAttribute("data-confirm"));
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // A page waiting on something the server will know shortly (a payment being confirmed) reads itself again.
  document.addEventListener("DOMContentLoaded", function () {
    var waiting = document.querySelector("[data-reload-after]");
    if (waiting) {
      window.setTimeout(function () { window.location.reload(); }, parseInt(waiting.getAttribute("data-reload-after"), 10) || 2000);
    }
  });

  // Close an open popover when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.popover[open]").forEach(function (details) {
      if (!details.contains(event.target)) details.removeAttribute("open");
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    setupNavToggle();
    init(document);
    focusFirstError(document);
    var thread = document.querySelector(".thread");
    if (thread) thread.scrollTop = thread.scrollHeight;
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    focusFirstError(event.target);
    var thread = document.querySelector(".thread");
    if (thread) thread.scrollTop = thread.scrollHeight;
  });
})();
