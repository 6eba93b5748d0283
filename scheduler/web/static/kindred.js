// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Time zone: on sign-up preselect the browser's zone; elsewhere offer it if it differs.
  function guessTimeZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }
  document.querySelectorAll("select[data-tz-select]").forEach(function (select) {
    var guess = guessTimeZone();
    if (!guess || guess === select.value) return;
    var option = Array.prototype.find.call(select.options, function (o) { return o.value === guess; });
    if (!option) return;
    var isSignup = !!select.closest("form") && location.pathname === "/signup";
    if (isSignup && select.value === "UTC" && !select.hasAttribute("aria-invalid")) {
      select.value = guess;
      return;
    }
    var hint = select.parentElement.querySelector("[data-tz-hint]");
    if (!hint) return;
    hint.textContent = "Your browser says " + guess.replace(/_/g, " ") + ". ";
    var use = document.createElement("button");
    use.type = "button";
    use.className = "link";
    use.textContent = "Use it";
    use.addEventListener("click", function () { select.value = guess; hint.hidden = true; select.focus(); });
    hint.appendChild(use);
    hint.hidden = false;
  });

  // New gathering: show only the "fixed time" or "find a time" fields that apply.
  var gatheringForm = document.querySelector("form[data-gathering-form]");
  if (gatheringForm) {
    var radios = gatheringForm.querySelectorAll("input[data-mode]");
    var showMode = function () {
      var checked = gatheringForm.querySelector("input[data-mode]:checked");
      var mode = checked ? checked.value : "fixed";
      gatheringForm.querySelectorAll("[data-mode-section]").forEach(function (section) {
        section.hidden = section.getAttribute("data-mode-section") !== mode;
      });
    };
    radios.forEach(function (r) { r.addEventListener("change", showMode); });
    showMode();

    // Recurrence options name the weekday of the chosen start.
    var start = gatheringForm.querySelector("#starts_at");
    var recurrence = gatheringForm.querySelector("[data-recurrence]");
    var days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    var relabel = function () {
      if (!start || !recurrence || !start.value) return;
      var d = new Date(start.value + ":00");
      if (isNaN(d.getTime())) return;
      var day = days[d.getDay()];
      var labels = {
        weekly: "Every week on " + day, biweekly: "Every 2 weeks on " + day,
        monthly_first: "First " + day + " of every month", monthly_last: "Last " + day + " of every month"
      };
      Array.prototype.forEach.call(recurrence.options, function (o) { if (labels[o.value]) o.textContent = labels[o.value]; });
    };
    if (start) start.addEventListener("change", relabel);
    relabel();
  }

  // Destructive buttons ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
})();
