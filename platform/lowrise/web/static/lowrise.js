/* Lowrise: the little behaviour htmx does not give: link pickers, kanban drag and drop,
   row selection for bulk actions, confirmations and toasts. No inline scripts anywhere. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }

  function toast(message, isError) {
    var t = document.getElementById("toast");
    if (!t || !message) return;
    t.textContent = message;
    t.className = "toast" + (isError ? " error" : "");
    t.hidden = false;
    clearTimeout(t._timer);
    t._timer = setTimeout(function () { t.hidden = true; }, isError ? 6000 : 3000);
  }
  window.lowriseToast = toast;

  /* Messages sent by the server in HX-Trigger: {"lowrise:toast": {"message": ..., "error": ...}} */
  document.addEventListener("lowrise:toast", function (e) {
    var d = e.detail || {};
    toast(d.message || d.value, d.error);
  });
  /* An answer htmx does not swap (a 5xx), or none at all (a dropped connection): say so in
     the page's language rather than leave the person waiting; the words are the toast's. */
  function failed(key, status) {
    var t = document.getElementById("toast");
    var text = t && t.dataset[key];
    toast(text ? text.replace("{status}", status) : "HTTP " + status, true);
  }
  /* One loading indicator for every request (htmx's, a board's moves): after 150 ms it shows
     a bar along the top, says "Loading…" to screen readers (role=status) and marks what is
     being loaded aria-busy; a quicker answer shows nothing. */
  var pending = 0, busyTimer = null, busyOn = [];
  function busy(target) {
    pending += 1;
    if (target && target.setAttribute && busyOn.indexOf(target) < 0) busyOn.push(target);
    if (busyTimer || pending > 1) return;
    busyTimer = setTimeout(function () {
      var bar = document.getElementById("busy");
      if (!pending || !bar) return;
      bar.classList.add("on");
      bar.firstElementChild.textContent = bar.dataset.text || "";
      busyOn.forEach(function (el) { if (el.isConnected) el.setAttribute("aria-busy", "true"); });
    }, 150);
  }
  function idle() {
    pending = Math.max(0, pending - 1);
    if (pending) return;
    clearTimeout(busyTimer);
    busyTimer = null;
    var bar = document.getElementById("busy");
    if (bar) { bar.classList.remove("on"); bar.firstElementChild.textContent = ""; }
    busyOn.forEach(function (el) { el.removeAttribute("aria-busy"); });
    busyOn = [];
  }
  window.lowriseBusy = { start: busy, end: idle };
  document.addEventListener("htmx:beforeSend", function (e) {
    var xhr = e.detail.xhr;
    if (!xhr) return;
    busy(e.detail.target);
    xhr.addEventListener("loadend", idle);  /* answered, failed or cancelled */
  });
  document.addEventListener("htmx:responseError", function (e) {
    failed("failed", e.detail.xhr.status);
  });
  document.addEventListener("htmx:sendError", function () { failed("noAnswer", 0); });

  /* Print buttons: the browser's print dialog (print.css lays the page out). */
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) window.print();
  });

  /* Forms that ask before they submit (delete). */
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
    }
  }, true);

  /* ---- link pickers ---- */
  function pickerOf(el) { return el.closest && el.closest("[data-picker]"); }

  function choose(picker, li) {
    var hidden = picker.querySelector("[data-picker-value]");
    var input = picker.querySelector("[data-picker-input]");
    hidden.value = li.dataset.id;
    input.value = li.dataset.title;
    input.dataset.chosen = li.dataset.title;  /* a search for the chosen title is not wanted */
    close(picker);
    hidden.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function close(picker) {
    var list = picker.querySelector(".picker-options");
    if (list) list.innerHTML = "";
    var input = picker.querySelector("[data-picker-input]");
    if (input) input.setAttribute("aria-expanded", "false");
  }

  document.addEventListener("click", function (e) {
    var li = e.target.closest && e.target.closest(".picker-options li[data-id]");
    if (li) { e.preventDefault(); choose(pickerOf(li), li); return; }
    document.querySelectorAll("[data-picker]").forEach(function (p) {
      if (!p.contains(e.target)) close(p);
    });
  });

  document.addEventListener("input", function (e) {
    if (e.target.matches && e.target.matches("[data-picker-input]")) {
      /* typing invalidates the chosen record until a new one is picked */
      var hidden = pickerOf(e.target).querySelector("[data-picker-value]");
      hidden.value = "";
      delete e.target.dataset.chosen;
    }
  });

  document.addEventListener("keydown", function (e) {
    if (!(e.target.matches && e.target.matches("[data-picker-input]"))) return;
    var picker = pickerOf(e.target);
    var items = Array.prototype.slice.call(picker.querySelectorAll(".picker-options li[data-id]"));
    if (!items.length) return;
    var cur = items.findIndex(function (li) { return li.getAttribute("aria-selected") === "true"; });
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      var next = e.key === "ArrowDown" ? Math.min(cur + 1, items.length - 1) : Math.max(cur - 1, 0);
      items.forEach(function (li, i) { li.setAttribute("aria-selected", i === next ? "true" : "false"); });
      e.target.setAttribute("aria-activedescendant", items[next].id);
    } else if (e.key === "Enter" && cur >= 0) {
      e.preventDefault();
      choose(picker, items[cur]);
    } else if (e.key === "Escape") {
      close(picker);
    }
  });

  document.addEventListener("htmx:beforeRequest", function (e) {
    var el = e.detail.elt;
    if (el.matches && el.matches("[data-picker-input]") && el.dataset.chosen === el.value &&
        document.activeElement !== el) {
      e.preventDefault();
    }
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    var list = e.detail.target;
    if (list.classList && list.classList.contains("picker-options")) {
      var input = pickerOf(list).querySelector("[data-picker-input]");
      input.setAttribute("aria-expanded", list.children.length ? "true" : "false");
    }
  });

  /* ---- row selection and bulk actions ---- */
  function updateBulk(table) {
    var form = document.getElementById(table.dataset.bulk);
    if (!form) return;
    var n = table.querySelectorAll("tbody input[name=ids]:checked").length;
    form.classList.toggle("show", n > 0);
    var count = form.querySelector("[data-selected]");
    if (count) count.textContent = n;
  }
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t.closest) return;
    var table = t.closest("table[data-bulk]");
    if (!table) return;
    if (t.matches("[data-select-all]")) {
      table.querySelectorAll("tbody input[name=ids]").forEach(function (c) { c.checked = t.checked; });
    }
    updateBulk(table);
  });

  /* ---- a form's errors: the list above the form links to each field; the first field in
     error gets the focus when the page comes back, and a link focuses its field ---- */
  function focusField(target) {
    if (!target) return;
    var control = target.matches("input, select, textarea") ? target
      : target.querySelector("input:not([type=hidden]), select, textarea");
    (control || target).focus({ preventScroll: true });
    (target.closest(".field") || target).scrollIntoView({ block: "center" });
  }
  function focusFirstError() {
    var list = document.getElementById("form-errors");
    var first = list && list.querySelector("a[href^='#']");
    if (first) focusField(document.getElementById(first.getAttribute("href").slice(1)));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", focusFirstError);
  else focusFirstError();
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("#form-errors a[href^='#']");
    if (!link) return;
    e.preventDefault();
    focusField(document.getElementById(link.getAttribute("href").slice(1)));
  });

  /* ---- kanban: drag a card to another column ----
     A card lists the columns it may not go to, and why (data-refused, from the stage rules
     and the person's rights): while it is dragged those columns are greyed out and say why,
     and take no drop; let go over one, the card stays and a toast says why. The server still
     judges every move. */
  var dragged = null;
  function refusedOf(card) {
    /* the card names its refusals; each list of cards says once what its names stand for
       (a card the server just sent carries that itself) */
    var name = card.dataset.refused || "";
    if (!name) return {};
    var lists = [card].concat(Array.prototype.slice.call(document.querySelectorAll("[data-reasons]")));
    for (var i = 0; i < lists.length; i++) {
      var raw = lists[i].dataset.reasons;
      if (!raw) continue;
      try {
        var known = JSON.parse(raw), found = known.names[name];
        if (!found) continue;
        var out = {};
        Object.keys(found).forEach(function (col) { out[col] = known.why[found[col]]; });
        return out;
      } catch (err) { /* not JSON: skip */ }
    }
    return {};
  }
  function clearMarks() {
    document.querySelectorAll(".column.drop-ok, .column.drop-no").forEach(function (c) {
      c.classList.remove("drop-ok", "drop-no");
      c.removeAttribute("data-reason");
      c.removeAttribute("aria-disabled");
    });
  }
  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest(".kcard[draggable]");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.id);
    var refused = refusedOf(card);
    document.querySelectorAll(".column[data-value]").forEach(function (col) {
      var why = refused[col.dataset.value];
      if (why) {
        col.classList.add("drop-no");
        col.setAttribute("data-reason", why);
        col.setAttribute("aria-disabled", "true");
      }
    });
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    /* let go over a column the card may not go to: say why (nothing moved) */
    var why = over && over.getAttribute("data-reason");
    if (why) toast(why, true);
    over = null;
    clearMarks();
    dragged = null;
  });
  var over = null;  /* the column the dragged card is over */
  document.addEventListener("dragenter", function (e) {
    if (!dragged) return;
    over = (e.target.closest && e.target.closest(".column[data-value]")) || null;
  });
  document.addEventListener("dragover", function (e) {
    var col = dragged && e.target.closest && e.target.closest(".column[data-value]");
    over = col || null;
    if (!col || col.classList.contains("drop-no")) return;  /* no drop here */
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".column.drop-ok").forEach(function (c) { if (c !== col) c.classList.remove("drop-ok"); });
    col.classList.add("drop-ok");
  });
  document.addEventListener("drop", function (e) {
    var col = dragged && e.target.closest && e.target.closest(".column[data-value]");
    if (!col) return;
    e.preventDefault();
    var card = dragged;
    var from = card.closest(".column");
    var why = col.getAttribute("data-reason");
    over = null;
    clearMarks();
    if (from === col) return;
    if (why) { toast(why, true); return; }
    moveCard(card, from, col);
  });

  function setColumnHead(col, info) {
    if (!info) return;
    var c = col.querySelector("[data-count]");
    if (c) c.textContent = info.count;
    var s = col.querySelector("[data-sum]");
    if (s) s.textContent = info.sum || "";
  }

  /* ---- kanban: the card's "Move to…" button opens a menu of the other columns (keyboard,
     phone); one menu for the board, built from the columns' heads. A column the card may not
     go to is listed, marked, and says why when chosen, as a drop there does. Without
     JavaScript the button opens the move page instead. */
  var menu = null, menuCard = null, menuButton = null;
  function closeMenu(refocus) {
    if (!menu) return;
    menu.remove();
    menu = null;
    if (menuButton) menuButton.setAttribute("aria-expanded", "false");
    if (refocus && menuButton && menuButton.isConnected) menuButton.focus();
    menuCard = menuButton = null;
  }
  function openMenu(button) {
    var card = button.closest(".kcard");
    var from = card.closest(".column");
    var refused = refusedOf(card);
    menu = document.createElement("div");
    menu.className = "kmenu";
    menu.setAttribute("role", "menu");
    menu.setAttribute("aria-label", button.textContent.trim());
    document.querySelectorAll(".column[data-value]").forEach(function (col) {
      if (col === from || col.hidden) return;
      var head = col.querySelector(".column-head .chip");
      var item = document.createElement("button");
      item.type = "button";
      item.setAttribute("role", "menuitem");
      item.dataset.value = col.dataset.value;
      item.textContent = head ? head.textContent.trim() : col.dataset.value;
      var why = refused[col.dataset.value];
      if (why) {
        item.setAttribute("aria-disabled", "true");
        item.dataset.reason = why;
        item.title = why;
      }
      menu.appendChild(item);
    });
    document.body.appendChild(menu);
    var r = button.getBoundingClientRect();
    var left = Math.max(4, Math.min(r.left, window.innerWidth - menu.offsetWidth - 4));
    var top = r.bottom + 4;
    if (top + menu.offsetHeight > window.innerHeight - 4) top = Math.max(4, r.top - menu.offsetHeight - 4);
    menu.style.left = left + "px";
    menu.style.top = top + "px";
    menuCard = card;
    menuButton = button;
    button.setAttribute("aria-expanded", "true");
    var first = menu.querySelector("[role=menuitem]:not([aria-disabled])") || menu.querySelector("[role=menuitem]");
    if (first) first.focus();
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".kcard-move");
    if (button) {
      e.preventDefault();
      var again = button === menuButton;
      closeMenu(false);
      if (!again) openMenu(button);
      return;
    }
    if (!menu) return;
    var item = e.target.closest && e.target.closest(".kmenu [role=menuitem]");
    if (!item) { if (!menu.contains(e.target)) closeMenu(false); return; }
    var card = menuCard, why = item.dataset.reason;
    var to = document.querySelector('.column[data-value="' + CSS.escape(item.dataset.value) + '"]');
    closeMenu(true);
    if (why) { toast(why, true); return; }
    if (card && to) moveCard(card, card.closest(".column"), to, true);
  });
  document.addEventListener("keydown", function (e) {
    if (!menu) return;
    var items = Array.prototype.slice.call(menu.querySelectorAll("[role=menuitem]"));
    var at = items.indexOf(document.activeElement);
    if (e.key === "Escape") { e.preventDefault(); closeMenu(true); }
    else if (e.key === "Tab") { closeMenu(true); }
    else if (e.key === "ArrowDown" || e.key === "ArrowUp" || e.key === "Home" || e.key === "End") {
      e.preventDefault();
      var n = items.length;
      var next = e.key === "Home" ? 0 : e.key === "End" ? n - 1
        : (at + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
      if (items[next]) items[next].focus();
    }
  });

  function moveCard(card, from, to, keepFocus) {
    var list = to.querySelector(".cards");
    var placeholder = document.createComment("kanban-card");
    card.parentNode.insertBefore(placeholder, card);
    list.insertBefore(card, list.firstChild);
    var board = card.closest("[data-move-url]");
    var body = new URLSearchParams();
    body.set("id", card.dataset.id);
    body.set("version", card.dataset.version);
    body.set("to", to.dataset.value);
    var settled = false;
    function settle() { if (!settled) { settled = true; idle(); } }
    busy(card);
    fetch(board.dataset.moveUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrf(), "Accept": "application/json",
                 "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString(),
      credentials: "same-origin"
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; },
                           function () { return { ok: false, status: r.status, data: {} }; });
    }).then(function (res) {
      settle();
      if (!res.ok || !res.data.ok) {
        var refused = new Error(res.data.message || "");
        refused.status = res.status || 0;
        throw refused;
      }
      card.dataset.version = res.data.version;
      var tmp = document.createElement("div");
      if (res.data.card) {
        tmp.innerHTML = res.data.card;
        var fresh = tmp.firstElementChild;
        if (fresh) { card.replaceWith(fresh); card = fresh; }
      }
      if (keepFocus) { var b = card.querySelector(".kcard-move"); if (b) b.focus(); }
      setColumnHead(from, res.data.columns && res.data.columns[from.dataset.value]);
      setColumnHead(to, res.data.columns && res.data.columns[to.dataset.value]);
      placeholder.remove();
      toast(res.data.message, false);
    }).catch(function (err) {
      settle();
      /* snap back to where it was */
      placeholder.parentNode.insertBefore(card, placeholder);
      placeholder.remove();
      card.classList.add("refused");
      setTimeout(function () { card.classList.remove("refused"); }, 600);
      if (err.status === undefined) failed("noAnswer", 0);  /* no answer at all */
      else if (err.message) toast(err.message, true);  /* the server's reason */
      else failed("failed", err.status);  /* an answer that is no JSON (a 5xx page) */
    });
  }
})();
