// Engagement page, staff's dispute settlement: typing the release fills in the refund with the rest
// of what escrow holds (until the refund is typed by hand), the quick-split buttons fill both, and the
// form says whether they add up.
// The server checks the split again; this only saves arithmetic.
(function () {
  "use strict";

  var DIGITS = { jpy: 0 };

  function toMinor(value, places) {
    var text = String(value || "").replace(/,/g, "").trim();
    if (!/^\d+(\.\d+)?$/.test(text)) return null;
    var parts = text.split(".");
    var fraction = (parts[1] || "").padEnd(places, "0");
    if (fraction.length > places) return null;
    return parseInt(parts[0], 10) * Math.pow(10, places) + (places ? parseInt(fraction, 10) : 0);
  }

  function toMajor(minor, places) {
    return places ? (minor / Math.pow(10, places)).toFixed(places) : String(minor);
  }

  function display(minor, places, currency) {
    var major = minor / Math.pow(10, places);
    var text = major.toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
    return text + " " + currency.toUpperCase();
  }

  function setup(form) {
    var held = parseInt(form.getAttribute("data-held"), 10) || 0;
    var currency = form.getAttribute("data-currency") || "usd";
    var places = currency in DIGITS ? DIGITS[currency] : 2;
    var release = form.querySelector('[data-split="release"]');
    var refund = form.querySelector('[data-split="refund"]');
    var sum = form.querySelector("[data-split-sum]");
    var refundTyped = false;

    function check() {
      var x = toMinor(release.value, places);
      var y = toMinor(refund.value, places);
      if (x === null || y === null) {
        sum.textContent = "";
        sum.className = "split-sum";
        return;
      }
      var ok = x + y === held;
      sum.textContent = ok
        ? "✓ Adds up to the " + display(held, places, currency) + " held."
        : "Adds up to " + display(x + y, places, currency) + ", not the " + display(held, places, currency) + " held.";
      sum.className = "split-sum " + (ok ? "ok" : "bad");
    }

    release.addEventListener("input", function () {
      var x = toMinor(release.value, places);
      if (!refundTyped && x !== null && x <= held) refund.value = toMajor(held - x, places);
      check();
    });
    refund.addEventListener("input", function () {
      refundTyped = refund.value !== "";
      check();
    });
    // Quick splits: all to the client, all to the engineer, half each (the odd cent to the client).
    form.querySelectorAll("[data-quick-split]").forEach(function (button) {
      button.addEventListener("click", function () {
        var share = parseFloat(button.getAttribute("data-quick-split"));
        var x = Math.floor(held * share);
        release.value = toMajor(x, places);
        refund.value = toMajor(held - x, places);
        refundTyped = true;
        check();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.split-form[data-held]").forEach(setup);
  });
})();
