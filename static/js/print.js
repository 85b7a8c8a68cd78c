// Receipts and statements: the Print button prints the page (its print stylesheet leaves the document only).
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
