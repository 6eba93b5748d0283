// Small progressive enhancements; every page works without this file.
// Words come from the page (data attributes the server wrote in the reader's language); where one
// is missing the enhancement that needs it is skipped, never shown in another language.
(function () {
  "use strict";

  // A text of <body data-i18n-NAME>, "{key}" placeholders filled; null when the page has none.
  function text(name, params) {
    var value = document.body ? document.body.getAttribute("data-i18n-" + name) : null;
    return value === null ? null : fill(value, params);
  }
  function fill(value, params) {
    return value.replace(/\{(\w+)\}/g, function (all, key) {
      return params && Object.prototype.hasOwnProperty.call(params, key) ? params[key] : all;
    });
  }

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
    var says = text("browser-zone", { zone: guess.replace(/_/g, " ") });
    var useIt = text("use-zone");
    if (!hint || says === null || useIt === null) return;
    hint.textContent = says + " ";
    var use = document.createElement("button");
    use.type = "button";
    use.className = "link";
    use.textContent = useIt;
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

    // Recurrence options name the weekday of the chosen start: the weekday names (Sunday first)
    // and the option labels ("Every week on {day}") come from the <select>'s data attributes.
    var start = gatheringForm.querySelector("#starts_at");
    var recurrence = gatheringForm.querySelector("[data-recurrence]");
    var days = null;
    try { days = JSON.parse(recurrence ? recurrence.getAttribute("data-weekdays") : "null"); } catch (e) { days = null; }
    var relabel = function () {
      if (!start || !recurrence || !start.value || !days || days.length !== 7) return;
      var d = new Date(start.value + ":00");
      if (isNaN(d.getTime())) return;
      var day = days[d.getDay()];
      Array.prototype.forEach.call(recurrence.options, function (o) {
        var label = recurrence.getAttribute("data-label-" + o.value);
        if (label) o.textContent = fill(label, { day: day });
      });
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
