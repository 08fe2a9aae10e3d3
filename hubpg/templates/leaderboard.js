(function () {
  "use strict";
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell.getAttribute("data-v");
    if (raw === null) raw = cell.textContent.trim();
    if (!numeric) return raw.toLowerCase();
    return raw === "" ? null : parseFloat(raw);
  }
  function sortTable(table, th) {
    var index = th.cellIndex;
    var numeric = th.getAttribute("data-type") === "num";
    var current = th.getAttribute("aria-sort");
    var first = th.getAttribute("data-first") || "ascending";
    var order = current ? (current === "ascending" ? "descending" : "ascending") : first;
    var sign = order === "ascending" ? 1 : -1;
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (row, i) {
      return { v: cellValue(row, index, numeric), i: i, row: row };
    });
    keyed.sort(function (a, b) {
      if (a.v === b.v) return a.i - b.i;
      if (a.v === null || Number.isNaN(a.v)) return 1;  // missing values last, either way
      if (b.v === null || Number.isNaN(b.v)) return -1;
      return (a.v < b.v ? -1 : 1) * sign;
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (k) { fragment.appendChild(k.row); });
    body.appendChild(fragment);
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", order);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      var label = th.textContent;
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.title = "Sort by " + label;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () { sortTable(table, th); });
    });
  });
  var search = document.getElementById("search");
  var count = document.getElementById("count");
  var rows = document.querySelectorAll("tr[data-repo]");
  function filter() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(rows, function (row) {
      var repo = row.getAttribute("data-repo");
      var match = words.every(function (w) { return repo.indexOf(w) !== -1; });
      row.hidden = !match;
      if (match) shown += 1;
    });
    count.textContent = words.length ? shown + " of " + rows.length + " models shown" : "";
  }
  search.addEventListener("input", filter);
  if (search.value) filter();  // a value the browser restored (back button)
})();
