// The targets grid (templates/metrics/targets.html): live row totals and "sum of reps"
// hints, a mark on every changed cell, a warning before leaving unsaved changes, and a save
// that posts only the changed cells. Without this script the page works the same, posting
// every cell; the server treats an unchanged cell as no change.
(function () {
  "use strict";

  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  var form = document.querySelector("form[data-targets-form]");
  if (!form) return;
  var inputs = Array.prototype.slice.call(form.querySelectorAll("input[name^='t-']"));
  var rows = Array.prototype.slice.call(form.querySelectorAll("tr[data-row]"));
  var status = form.querySelector("[data-status]");
  var format = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  // Totals carry the currency as the server writes them ("$", "CHF "); targets are never
  // negative, so the prefix always leads.
  var currency = form.dataset.currencyPrefix || "";
  var submitting = false;

  var GROUPED = /^\d{1,3}(?:[,_ \u00a0\u202f]\d{3})+(?:\.\d+)?$/;
  var PLAIN = /^(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;
  var exact = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

  // The number a cell holds, as metrics.targets.parse_amount reads it; null when empty or
  // not a valid target (the server then answers with the error).
  function parse(text) {
    text = text.trim();
    if (GROUPED.test(text)) text = text.replace(/[,_ \u00a0\u202f]/g, "");
    if (!PLAIN.test(text)) return null;
    var number = Number(text);
    return isFinite(number) && number < 1e12 ? number : null;
  }

  function amount(input) {
    return parse(input.value);
  }

  function isChanged(input) {
    var text = input.value.trim();
    var original = input.dataset.original;
    if (text === original) return false;
    if (text === "" || original === "") return true;
    var number = parse(text);
    return number === null || number !== parse(original);
  }

  function sum(amounts) {
    return amounts.reduce(function (total, value) {
      return value === null ? total : (total === null ? 0 : total) + value;
    }, null);
  }

  function show(cell, value) {
    if (cell) cell.textContent = value === null ? "\u2014" : currency + format.format(value);
  }

  function refresh() {
    var changed = 0;
    var amountsByRow = {};
    rows.forEach(function (row) {
      var cells = Array.prototype.slice.call(row.querySelectorAll("input[name^='t-']"));
      amountsByRow[row.dataset.row] = cells.map(amount);
      cells.forEach(function (input) {
        var isDifferent = isChanged(input);
        input.closest("td").classList.toggle("changed", isDifferent);
        if (isDifferent) changed += 1;
      });
      show(row.querySelector("[data-total]"), sum(amountsByRow[row.dataset.row]));
    });
    form.querySelectorAll("tr[data-sum-of]").forEach(function (line) {
      var kind = line.dataset.sum === "reps" ? "row-user" : "row-team";
      var below = rows.filter(function (row) {
        return row.dataset.parent === line.dataset.sumOf && row.classList.contains(kind);
      }).map(function (row) { return amountsByRow[row.dataset.row]; });
      var columns = Array.prototype.slice.call(line.querySelectorAll("[data-sum-col]"));
      var sums = columns.map(function (cell, index) {
        return sum(below.map(function (amounts) { return amounts[index]; }));
      });
      columns.forEach(function (cell, index) { show(cell, sums[index]); });
      show(line.querySelector("[data-total]"), sum(sums));
    });
    status.textContent = changed ? changed + " unsaved change" + (changed === 1 ? "" : "s") : "";
    form.classList.toggle("dirty", changed > 0);
    return changed;
  }

  form.addEventListener("input", refresh);
  // Group the thousands of a typed number once the cell is left: 1250000 -> 1,250,000.
  form.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[name^='t-']")) return;
    var number = parse(input.value);
    if (number !== null && !/\.\d{3,}/.test(input.value)) input.value = exact.format(number);
  });
  form.addEventListener("submit", function () {
    submitting = true;
    // Only changed cells go to the server: a big grid stays under Django's limit of posted
    // fields, and a cell someone else saved meanwhile is not overwritten with what this page
    // loaded. A disabled input is not posted, which the server reads as "unchanged".
    inputs.forEach(function (input) { if (!isChanged(input)) input.disabled = true; });
  });
  window.addEventListener("pageshow", function () {
    submitting = false;
    inputs.forEach(function (input) { input.disabled = false; });
  });
  window.addEventListener("beforeunload", function (event) {
    if (!submitting && refresh() > 0) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  refresh();
})();
