// Poll page: paint availability on the grid (mouse, touch, keyboard), save without reloading,
// and keep the heatmap and the best times fresh while the worker ranks them.
// Without JavaScript the grid is a form of selects, and the page reloads after saving.
(function () {
  "use strict";

  // Texts come from the page, in the reader's language (data-i18n-* on the poll); English
  // stays only as the fallback of a page that does not carry them.
  var pollArticle = document.querySelector("article.poll");
  var texts = pollArticle ? pollArticle.dataset : {};
  function t(key, fallback) { return texts[key] || fallback; }
  var WORDS = {
    "": t("i18nNotAvailable", "not available"),
    yes: t("i18nYes", "yes"),
    ifneedbe: t("i18nIfneedbe", "if need be")
  };
  var canCome = {};
  try { canCome = JSON.parse(texts.i18nCanCome || "{}"); } catch (e) { canCome = {}; }
  var pluralRules = window.Intl && Intl.PluralRules ? new Intl.PluralRules(document.documentElement.lang || "en") : null;
  function peopleCanCome(count) {
    var form = pluralRules ? pluralRules.select(count) : (count === 1 ? "one" : "other");
    var text = canCome[form] || canCome.other;
    if (!text) return count === 1 ? "1 person can come" : count + " people can come";
    return text.replace("{count}", count.toLocaleString(document.documentElement.lang || undefined));
  }

  // A table of cells addressable by row and column, with one tab stop and arrow keys.
  function rovingGrid(table, selector, onActivate) {
    var cells = Array.prototype.slice.call(table.querySelectorAll(selector));
    var byPos = {};
    var maxRow = 0, maxCol = 0;
    cells.forEach(function (td) {
      var r = td.parentNode.sectionRowIndex, c = td.cellIndex;
      byPos[r + ":" + c] = td;
      maxRow = Math.max(maxRow, r); maxCol = Math.max(maxCol, c);
      td.tabIndex = -1;
      td.setAttribute("role", "gridcell");
    });
    table.setAttribute("role", "grid");
    if (cells.length) cells[0].tabIndex = 0;
    function focusCell(td) {
      cells.forEach(function (c) { c.tabIndex = -1; });
      td.tabIndex = 0;
      td.focus();
      if (onActivate) onActivate(td);
    }
    function find(td, dr, dc) {
      var r = td.parentNode.sectionRowIndex + dr, c = td.cellIndex + dc;
      while (r >= 0 && r <= maxRow && c >= 0 && c <= maxCol) {
        if (byPos[r + ":" + c]) return byPos[r + ":" + c];
        r += dr; c += dc;
      }
      return null;
    }
    table.addEventListener("keydown", function (event) {
      var td = event.target.closest(selector);
      if (!td) return;
      var moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      var move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      var next = find(td, move[0], move[1]);
      if (next) focusCell(next);
    });
    return { cells: cells, focusCell: focusCell };
  }

  // ---- painting -----------------------------------------------------------------------------
  var form = document.querySelector("form[data-paint-form]");
  var refresher = null;
  if (form) {
    form.classList.add("painting");
    document.querySelectorAll("[data-paint-modes], [data-js-hint]").forEach(function (el) { el.hidden = false; });
    document.querySelectorAll("[data-nojs-hint]").forEach(function (el) { el.hidden = true; });
    var table = form.querySelector("[data-grid]");
    var status = form.querySelector("[data-save-status]");
    var dirty = false;

    var mode = function () {
      var checked = form.querySelector("input[name=paint_mode]:checked");
      return checked ? checked.value : "yes";
    };
    var valueOf = function (td) { return td.querySelector("select").value; };
    var setCell = function (td, value) {
      var select = td.querySelector("select");
      if (select.value === value) return;
      select.value = value;
      td.className = value;
      label(td);
      dirty = true;
      status.textContent = t("i18nUnsaved", "Unsaved changes");
    };
    var label = function (td) {
      td.setAttribute("aria-label", td.dataset.label + ": " + WORDS[valueOf(td)]);
    };
    var grid = rovingGrid(table, "td[data-cell]");
    grid.cells.forEach(label);

    // "Fill from my calendar": every time the person's calendars leave free becomes "yes";
    // busy times keep what they were. Nothing is saved until they press Save.
    var fill = document.querySelector("[data-fill-from-calendar]");
    if (fill) {
      fill.closest("[data-calendar-fill]").hidden = false;
      fill.addEventListener("click", function () {
        grid.cells.forEach(function (td) {
          if (!td.hasAttribute("data-busy")) setCell(td, "yes");
        });
      });
    }

    var toggle = function (td) { var m = mode(); setCell(td, valueOf(td) === m ? "" : m); };
    table.addEventListener("keydown", function (event) {
      if (event.key !== " " && event.key !== "Enter") return;
      var td = event.target.closest("td[data-cell]");
      if (!td) return;
      event.preventDefault();
      toggle(td);
    });

    // Drag painting: the first cell decides whether this stroke paints or erases.
    var stroke = null;
    table.addEventListener("pointerdown", function (event) {
      var td = event.target.closest("td[data-cell]");
      if (!td || event.button > 0) return;
      event.preventDefault();
      var m = mode();
      stroke = valueOf(td) === m ? "" : m;
      setCell(td, stroke);
      grid.focusCell(td);
    });
    document.addEventListener("pointermove", function (event) {
      if (stroke === null) return;
      // touch pointers stay captured by the first cell: ask which cell is under the finger
      var el = document.elementFromPoint(event.clientX, event.clientY);
      var td = el && el.closest ? el.closest("td[data-cell]") : null;
      if (td && table.contains(td)) setCell(td, stroke);
    });
    var endStroke = function () { stroke = null; };
    document.addEventListener("pointerup", endStroke);
    document.addEventListener("pointercancel", endStroke);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      status.textContent = t("i18nSaving", "Saving…");
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin"
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (!result.ok) { status.textContent = result.body.message || t("i18nSaveFailed", "Could not save."); return; }
        dirty = false;
        status.textContent = t("i18nSaved", "Saved.");
        // everyone's answers are shown to people who answered (outside a group): reload to see them
        if (document.querySelector("[data-availability-hidden]")) {
          window.setTimeout(function () { window.location.reload(); }, 800);
          return;
        }
        if (refresher) refresher.start();
      }).catch(function () { status.textContent = t("i18nOffline", "Could not save: check your connection and try again."); });
    });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  }

  // ---- heatmap --------------------------------------------------------------------------------
  var heat = document.querySelector("[data-heatmap]");
  var who = document.querySelector("[data-who]");
  var describe = function (td) {
    var count = +(td.textContent.trim() || 0);
    var names = td.dataset.names;
    return td.dataset.label + ": " + peopleCanCome(count) +
      (names ? " (" + names + ")" : "");
  };
  if (heat) {
    var heatGrid = rovingGrid(heat, "td[data-heat]", function (td) { who.textContent = describe(td); });
    heatGrid.cells.forEach(function (td) { td.setAttribute("aria-label", describe(td)); });
    heat.addEventListener("mouseover", function (event) {
      var td = event.target.closest("td[data-heat]");
      if (td) who.textContent = describe(td);
    });
    heat.addEventListener("focusin", function (event) {
      var td = event.target.closest("td[data-heat]");
      if (td) who.textContent = describe(td);
    });
  }

  // ---- best times, refreshed while the worker recomputes ------------------------------------
  var best = document.querySelector("[data-best]");
  if (best && best.dataset.slotsUrl) {
    var progress = best.querySelector("[data-progress]");
    var list = best.querySelector("[data-slots]");
    var none = best.querySelector("[data-no-slots]");
    var template = best.querySelector("template[data-slot-template]");
    var timer = null;

    var render = function (data) {
      progress.hidden = data.status === "ready";
      best.dataset.status = data.status;
      list.textContent = "";
      data.slots.forEach(function (slot) {
        var item = template.content.firstElementChild.cloneNode(true);
        item.querySelector(".slot-time").textContent = slot.label;
        item.querySelector(".slot-count").textContent = slot.summary;
        item.querySelector(".slot-names").textContent = slot.names;
        var start = item.querySelector("input[name=start]");
        if (start) {
          start.value = slot.start;
          var scheduleThis = template.dataset.i18nScheduleThis || "Schedule this: {time}";
          item.querySelector("button").setAttribute("aria-label", scheduleThis.replace("{time}", slot.label));
        }
        list.appendChild(item);
      });
      none.hidden = data.slots.length > 0;
      if (heat) {
        data.cells.forEach(function (cell) {
          var td = heat.querySelector('td[data-heat="' + cell.i + '"]');
          if (!td) return;
          td.className = "l" + cell.level;
          td.textContent = cell.count ? String(cell.count) : "";
          td.dataset.names = cell.names;
          td.title = td.dataset.label + ": " + cell.count + (cell.names ? " (" + cell.names + ")" : "");
          td.setAttribute("aria-label", describe(td));
        });
      }
    };

    var refresh = function () {
      fetch(best.dataset.slotsUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (data.gathering_status && data.gathering_status !== "polling") { location.reload(); return; }
          render(data);
          // asked again sooner while a ranking is fresh, less often while none comes (no worker)
          timer = data.status === "pending" ? setTimeout(refresh, nextWait()) : null;
        })
        .catch(function () { timer = setTimeout(refresh, Math.max(3000, nextWait())); });
    };
    var wait = 800;
    var nextWait = function () {
      var now = wait;
      wait = Math.min(wait * 1.5, 10000);
      return now;
    };
    refresher = {
      start: function () {
        progress.hidden = false;
        if (timer) clearTimeout(timer);
        wait = 800;
        refresh();
      }
    };
    if (best.dataset.status === "pending") refresher.start();
  }
})();
