"use strict";
// Filters and sortable columns for every item table. Without this script the page shows every item, in the
// order that needs a look first, and the controls stay hidden: nothing here is needed to read the report.
(function () {
  function sortValue(row, key) {
    if (key === "id") return row.dataset.id;
    if (key === "status") return Number(row.dataset.rank);
    return row.dataset.delta === "" ? Number.POSITIVE_INFINITY : Number(row.dataset.delta);
  }

  function compare(a, b, key) {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    const order = typeof x === "string" ? x.localeCompare(y) : x < y ? -1 : x > y ? 1 : 0;
    return order || Number(a.dataset.order) - Number(b.dataset.order);
  }

  function wire(section) {
    const controls = section.querySelector(".controls");
    const table = section.querySelector("table.items");
    if (!controls || !table) return;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const buttons = Array.from(controls.querySelectorAll("button[data-filter]"));
    const search = controls.querySelector("input[type=search]");
    const shown = controls.querySelector(".shown");
    let filter = "all";

    function apply() {
      const needle = search.value.trim().toLowerCase();
      let visible = 0;
      for (const row of rows) {
        const keep = (filter === "all" || row.dataset.status === filter) &&
          (needle === "" || row.textContent.toLowerCase().includes(needle));
        row.hidden = !keep;
        if (keep) visible += 1;
      }
      shown.textContent = visible + " of " + rows.length + " shown";
    }

    for (const button of buttons) {
      button.addEventListener("click", function () {
        filter = button.dataset.filter;
        for (const other of buttons) other.setAttribute("aria-pressed", String(other === button));
        apply();
      });
    }
    search.addEventListener("input", apply);

    const headers = Array.from(table.tHead.rows[0].cells).filter(function (th) { return th.dataset.sort; });
    for (const th of headers) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        for (const other of headers) other.setAttribute("aria-sort", "none");
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        rows.sort(function (a, b) { return (ascending ? 1 : -1) * compare(a, b, th.dataset.sort); });
        for (const row of rows) body.appendChild(row);
      });
    }
    controls.hidden = false;
    apply();
  }

  for (const section of document.querySelectorAll("section.item-list")) wire(section);
})();
