// Click (or Enter on) a column header to sort the table by it; again to reverse.
// Cells sort by their data-sort number when they have one, else by their text;
// empty values stay last. Without JavaScript the tables are simply unsorted.
document.documentElement.classList.add("js");
function compareValues(a, b) {
  if (a === "" || b === "") return (a === "") - (b === "");
  const x = Number(a), y = Number(b);
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  return a.localeCompare(b, undefined, {numeric: true});
}
for (const table of document.querySelectorAll("table.sortable")) {
  const heads = Array.from(table.tHead.rows[0].cells);
  heads.forEach((th, column) => {
    th.tabIndex = 0;
    const sort = () => {
      const direction = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      heads.forEach((other) => other.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", direction === 1 ? "ascending" : "descending");
      const value = (row) => {
        const cell = row.cells[column];
        return cell ? (cell.dataset.sort ?? cell.textContent.trim()) : "";
      };
      const body = table.tBodies[0];
      const rows = Array.from(body.rows).sort((r, s) => {
        const a = value(r), b = value(s);
        return a === "" || b === "" ? compareValues(a, b) : direction * compareValues(a, b);
      });
      body.append(...rows);
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
    });
  });
}
