// The funding page: the card goes from Stripe.js straight to Stripe (confirmCardPayment with the
// PaymentIntent's client secret); the page then polls until Stripe's webhook has marked the
// milestone funded. Works with real Stripe.js and with the local server's test Stripe.js.
(function () {
  "use strict";

  var form = document.getElementById("funding-form");
  if (!form || typeof Stripe === "undefined") return;

  var stripe = Stripe(form.getAttribute("data-publishable-key"));
  var card = stripe.elements().create("card", {
    style: { base: { fontSize: "15px", color: "#101828", "::placeholder": { color: "#98a2b3" } } },
  });
  card.mount("#card-element");

  // The test Stripe.js draws plain inputs named by their Stripe field; give them readable labels.
  var labels = ["Card number", "MM", "YY", "CVC", "ZIP"];
  var inputs = document.querySelectorAll("#card-element input");
  if (inputs.length === labels.length) {
    inputs.forEach(function (input, index) {
      input.setAttribute("placeholder", labels[index]);
      input.setAttribute("aria-label", labels[index]);
      input.setAttribute("autocomplete", "off");
      input.setAttribute("inputmode", "numeric");
    });
  }

  var error = document.getElementById("card-error");
  var button = form.querySelector("[data-pay]");
  var buttonText = button.textContent;

  function showError(message) {
    error.textContent = message || "";
  }

  card.on("change", function (event) {
    showError(event && event.error ? event.error.message : "");
  });

  var batch = form.getAttribute("data-batch");
  if (batch) {
    // Several milestones at once: confirm each payment in turn with the same card; one declined stops
    // the run (those paid stay paid) and the button pays the rest.
    var payments = JSON.parse(document.getElementById(batch).textContent);
    var paid = {};
    var rowStatus = function (milestone, text) {
      var cell = document.querySelector('[data-row="' + milestone + '"] [data-row-status]');
      if (cell) cell.textContent = text;
    };
    var payNext = function (index) {
      if (index >= payments.length) {
        button.textContent = "Paid — confirming…";
        window.setTimeout(function () { window.location.assign(form.getAttribute("data-done-url")); }, 1500);
        return;
      }
      var payment = payments[index];
      if (paid[payment.milestone]) return payNext(index + 1);
      rowStatus(payment.milestone, "Paying…");
      stripe
        .confirmCardPayment(payment.secret, {
          payment_method: { card: card, billing_details: { name: form.elements.name.value } },
        })
        .then(function (result) {
          if (result.error) {
            rowStatus(payment.milestone, "Declined");
            showError("“" + payment.title + "”: " + (result.error.message || "the payment did not go through."));
            button.disabled = false;
            button.textContent = buttonText;
            return;
          }
          paid[payment.milestone] = true;
          rowStatus(payment.milestone, "Paid, confirming…");
          payNext(index + 1);
        })
        .catch(function () {
          showError("Stripe could not be reached. Check your connection and try again.");
          button.disabled = false;
          button.textContent = buttonText;
        });
    };
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      showError("");
      button.disabled = true;
      button.textContent = "Paying…";
      payNext(0);
    });
    return;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    button.disabled = true;
    button.textContent = "Paying…";
    stripe
      .confirmCardPayment(form.getAttribute("data-client-secret"), {
        payment_method: { card: card, billing_details: { name: form.elements.name.value } },
      })
      .then(function (result) {
        if (result.error) {
          showError(result.error.message || "The payment did not go through.");
          button.disabled = false;
          button.textContent = buttonText;
          return;
        }
        // Paid at Stripe: poll the status (htmx) until the webhook has marked the milestone funded.
        form.hidden = true;
        var status = document.getElementById("funding-status");
        status.setAttribute("hx-get", form.getAttribute("data-status-url") + "?poll=1");
        status.setAttribute("hx-trigger", "load");
        status.setAttribute("hx-swap", "outerHTML");
        htmx.process(status);
      })
      .catch(function () {
        showError("Stripe could not be reached. Check your connection and try again.");
        button.disabled = false;
        button.textContent = buttonText;
      });
  });
})();
