// 通行记录: the rows' photos as on the booth page (common.js photoTable): one tab stop for
// the table, ↑ ↓ between the rows, Enter or a click enlarges with the row's facts.
"use strict";
(function () {
  const rows = document.getElementById("history-rows");
  if (rows) window.parkgate.photoTable(rows);
})();
