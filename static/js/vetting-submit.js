// Submission form: show only the section of the chosen kind (dataset or adapter). Without this
// script both sections show and the server still takes only the chosen kind's fields.
(function () {
  "use strict";
  var form = document.querySelector("[data-submission-form]");
  if (!form) return;
  var sections = form.querySelectorAll(".kind-section[data-kind]");
  function update() {
    var checked = form.querySelector('input[name="kind"]:checked');
    var kind = checked ? checked.value : "dataset";
    sections.forEach(function (section) {
      section.hidden = section.getAttribute("data-kind") !== kind;
    });
  }
  form.querySelectorAll('input[name="kind"]').forEach(function (input) {
    input.addEventListener("change", update);
  });
  update();
})();
