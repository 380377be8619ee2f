/* Lowrise: the table as a grid a person can work in by keyboard.

   A cell is focused (one at a time is in the Tab order, the others are reached by arrows):
   arrows, Home and End move; Enter or F2 edits the cell (a double click too; typing a letter
   starts the edit with it); Enter on a cell that cannot be edited opens the record. In the
   editor, Enter saves and moves down, Tab and Shift+Tab save and move right and left, Esc
   cancels, a select saves on choice, and leaving the editor by the mouse saves what changed
   (or cancels when nothing did). The server answers each save with the row: a refusal keeps
   the editor open with its message and the focus in it. */
(function () {
  "use strict";

  var CELL = "table.grid td.cell";
  var pending = null; /* after a save: {row, col, move} */
  var typed = null;   /* a letter that started an edit, put into the editor once it opens */

  function grid(el) { return el && el.closest && el.closest("table.grid"); }
  function cellsOf(tr) { return tr ? Array.prototype.slice.call(tr.querySelectorAll("td.cell, td.editing")) : []; }
  function rows(table) {
    return Array.prototype.slice.call(table.tBodies[0] ? table.tBodies[0].rows : [])
      .filter(function (tr) { return tr.id && tr.id.indexOf("row-") === 0; });
  }
  function position(td) {
    var tr = td.closest("tr");
    return { tr: tr, col: cellsOf(tr).indexOf(td) };
  }
  function cellAt(tr, col) {
    var cells = cellsOf(tr);
    return cells[Math.max(0, Math.min(col, cells.length - 1))] || null;
  }

  function focusCell(td) {
    if (!td) return;
    var table = grid(td);
    table.querySelectorAll("td[tabindex='0']").forEach(function (c) {
      if (c !== td) c.setAttribute("tabindex", "-1");
    });
    td.setAttribute("tabindex", "0");
    td.focus();
    td.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  /* every cell focusable by script, the first one (or the last focused) in the Tab order */
  function prepare(root) {
    (root || document).querySelectorAll("table.grid").forEach(function (table) {
      var any = false;
      table.querySelectorAll("td.cell").forEach(function (td) {
        if (!td.hasAttribute("tabindex")) td.setAttribute("tabindex", "-1");
        if (td.getAttribute("tabindex") === "0") any = true;
      });
      if (!any) {
        var first = table.querySelector("td.cell");
        if (first) first.setAttribute("tabindex", "0");
      }
    });
  }

  function move(td, dRow, dCol) {
    var p = position(td);
    var table = grid(td);
    if (dRow) {
      var all = rows(table);
      var i = all.indexOf(p.tr) + dRow;
      if (i < 0 || i >= all.length) return;
      focusCell(cellAt(all[i], p.col));
    } else {
      var cells = cellsOf(p.tr);
      var j = p.col + dCol;
      if (j < 0 || j >= cells.length) return;
      focusCell(cells[j]);
    }
  }

  function edit(td, letter) {
    var pencil = td.querySelector(".cell-edit");
    if (!pencil) return false;
    typed = letter || null;
    pencil.click(); /* htmx loads the editor into the cell */
    return true;
  }

  function snapshot(form) {
    var out = [];
    new FormData(form).forEach(function (v, k) {
      if (k !== "csrf_token" && k !== "_version") out.push(k + "=" + v);
    });
    return out.join("&");
  }

  function cancel(form) {
    var btn = form.querySelector("button[type=button][hx-get]");
    if (btn) btn.click();
  }

  function save(form, moveTo) {
    var td = form.closest("td");
    var p = position(td);
    pending = { row: p.tr.id, col: p.col, move: moveTo };
    if (snapshot(form) === form.dataset.before) {
      cancel(form);
    } else {
      form.requestSubmit();
    }
  }

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (!t.closest) return;
    var form = t.closest(".cell-form");
    if (form && grid(form)) {
      if (e.key === "Escape") {
        e.preventDefault();
        var p = position(form.closest("td"));
        pending = { row: p.tr.id, col: p.col, move: null };
        cancel(form);
      } else if (e.key === "Tab") {
        e.preventDefault();
        save(form, e.shiftKey ? "left" : "right");
      } else if (e.key === "Enter" && t.tagName !== "TEXTAREA" && t.tagName !== "BUTTON"
                 && !t.closest("[data-picker]")) {
        e.preventDefault();
        save(form, "down");
      }
      return;
    }
    if (!t.matches || !t.matches(CELL)) return;
    var keys = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (keys[e.key]) {
      e.preventDefault();
      move(t, keys[e.key][0], keys[e.key][1]);
    } else if (e.key === "Home" || e.key === "End") {
      e.preventDefault();
      var cells = cellsOf(t.closest("tr"));
      focusCell(e.key === "Home" ? cells[0] : cells[cells.length - 1]);
    } else if (e.key === "Enter" || e.key === "F2") {
      e.preventDefault();
      if (!edit(t) && e.key === "Enter") {
        var link = t.querySelector("a.row-link");
        if (link) link.click();
      }
    } else if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey && e.key !== " ") {
      if (edit(t, e.key)) e.preventDefault();
    }
  });

  document.addEventListener("dblclick", function (e) {
    var td = e.target.closest && e.target.closest(CELL);
    if (td && !e.target.closest("a")) edit(td);
  });

  /* a click on a cell focuses it, so that the keys work from there */
  document.addEventListener("click", function (e) {
    var td = e.target.closest && e.target.closest(CELL);
    if (td && !e.target.closest("a, button, input, select")) focusCell(td);
  });

  /* a select saves as soon as a value is chosen */
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.tagName === "SELECT" && !t.multiple && t.closest(".cell-form") && grid(t)) {
      save(t.closest(".cell-form"), null);
    }
  });

  /* leaving the editor by the mouse: save what changed, or close it */
  document.addEventListener("focusout", function (e) {
    var form = e.target.closest && e.target.closest(".cell-form");
    if (!form || !grid(form)) return;
    setTimeout(function () {
      if (!form.isConnected || form.contains(document.activeElement)) return;
      if (form.dataset.sending) return;
      save(form, null);
      pending = null; /* the focus stays where the person put it */
    }, 0);
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.target.closest && e.target.closest(".cell-form");
    if (form) form.dataset.sending = "1";
  });

  /* an editor's first values, taken as it arrives (before anyone can type into it): what
     "changed" is measured against when the editor is left */
  document.addEventListener("htmx:afterSwap", function (e) {
    var t = e.target;
    var form = t.querySelector && t.querySelector(".cell-form");
    if (form && grid(form) && form.dataset.before === undefined) {
      form.dataset.before = snapshot(form);
    }
  });

  document.addEventListener("htmx:afterSettle", function (e) {
    var target = e.target;
    prepare(target.parentNode || document);
    /* an editor opened in a cell: focus it, with the letter that opened it */
    var form = target.querySelector && target.querySelector(".cell-form");
    if (form && grid(form)) {
      if (form.dataset.before === undefined) form.dataset.before = snapshot(form);
      var input = form.querySelector("input:not([type=hidden]), select, textarea");
      if (input) {
        input.focus();
        if (typed && input.tagName === "INPUT" && /^(text|search|tel|url|email|number)$/.test(input.type)) {
          input.value = typed;
        } else if (input.select) {
          try { input.select(); } catch (err) { /* not every input selects */ }
        }
      }
      typed = null;
      pending = null;
      return;
    }
    if (!pending) return;
    var tr = document.getElementById(pending.row);
    var p = pending;
    pending = null;
    if (!tr) return;
    var cells = cellsOf(tr);
    if (p.move === "down") {
      var all = rows(grid(tr));
      var next = all[all.indexOf(tr) + 1];
      focusCell(next ? cellAt(next, p.col) : cellAt(tr, p.col));
    } else if (p.move === "right") {
      focusCell(cells[p.col + 1] || cells[p.col]);
    } else if (p.move === "left") {
      focusCell(cells[p.col - 1] || cells[p.col]);
    } else {
      focusCell(cellAt(tr, p.col));
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { prepare(); });
  } else {
    prepare();
  }
})();
