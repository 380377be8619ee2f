/* Lowrise comments: the @-mention autocomplete of the comment box. Typing "@" and the start of
   a name asks the server for colleagues (a listbox under the box); arrow keys move, Enter or
   Tab picks, Escape closes, a click picks. Ctrl+Enter sends the comment. No inline scripts. */
(function () {
  "use strict";
  var seq = 0;
  var timer = null;

  function boxOf(el) { return el && el.closest && el.closest("[data-mentions]"); }
  function listOf(box) { return box.querySelector("[role=listbox]"); }
  function areaOf(box) { return box.querySelector("textarea"); }
  function options(box) {
    return Array.prototype.slice.call(listOf(box).querySelectorAll("li[data-id]"));
  }

  /* The "@name" being typed, from an "@" that starts a mention up to the caret. A name may
     hold one space ("Amy An"); a mention already picked ends at its name, so the words
     typed after it are the message, not a name to look up. */
  function typed(area) {
    var upto = area.value.slice(0, area.selectionStart);
    var m = /(^|[^A-Za-z0-9_.+\-@])@([^\s@]{1,30}(?: [^\s@]{0,30})?)$/.exec(upto);
    if (!m) return null;
    var picked = (boxOf(area) || {}).lowrisePicked || [];
    for (var i = 0; i < picked.length; i++) {
      if (m[2].indexOf(picked[i] + " ") === 0) return null;
    }
    return { start: upto.length - m[2].length - 1, query: m[2] };
  }

  function close(box) {
    listOf(box).innerHTML = "";
    areaOf(box).removeAttribute("aria-activedescendant");
  }

  function lookup(area) {
    var box = boxOf(area);
    var t = typed(area);
    var mine = ++seq;
    if (!t) { close(box); return; }
    fetch(box.dataset.mentions + "?q=" + encodeURIComponent(t.query), {
      headers: { "HX-Request": "true" }, credentials: "same-origin"
    }).then(function (r) { return r.ok ? r.text() : ""; }).then(function (html) {
      if (mine !== seq) return;  /* an answer to an older keystroke */
      listOf(box).innerHTML = html;
      /* words after a space that match nobody are the message going on: no "No match" */
      if (!options(box).length && t.query.indexOf(" ") >= 0) { close(box); return; }
      var first = options(box)[0];
      if (first) select(box, first);
    }).catch(function () { close(box); });
  }

  function select(box, li) {
    options(box).forEach(function (o) { o.setAttribute("aria-selected", o === li ? "true" : "false"); });
    areaOf(box).setAttribute("aria-activedescendant", li.id);
    li.scrollIntoView({ block: "nearest" });
  }

  function choose(box, li) {
    var area = areaOf(box);
    var t = typed(area);
    if (!t) { close(box); return; }
    var before = area.value.slice(0, t.start);
    var after = area.value.slice(area.selectionStart);
    var text = "@" + li.dataset.name + " ";
    box.lowrisePicked = (box.lowrisePicked || []).concat([li.dataset.name]);
    area.value = before + text + after;
    var pos = before.length + text.length;
    area.setSelectionRange(pos, pos);
    close(box);
    area.focus();
  }

  document.addEventListener("input", function (e) {
    var box = boxOf(e.target);
    if (!box || e.target.tagName !== "TEXTAREA") return;
    clearTimeout(timer);
    timer = setTimeout(function () { lookup(e.target); }, 150);
  });

  document.addEventListener("keydown", function (e) {
    var box = boxOf(e.target);
    if (!box || e.target.tagName !== "TEXTAREA") return;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      close(box);
      var form = e.target.form;
      if (form && form.requestSubmit) form.requestSubmit();
      return;
    }
    var items = options(box);
    if (!items.length) return;
    var cur = items.findIndex(function (li) { return li.getAttribute("aria-selected") === "true"; });
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      var next = e.key === "ArrowDown" ? Math.min(cur + 1, items.length - 1) : Math.max(cur - 1, 0);
      select(box, items[next]);
    } else if ((e.key === "Enter" || e.key === "Tab") && cur >= 0) {
      e.preventDefault();
      choose(box, items[cur]);
    } else if (e.key === "Escape") {
      e.preventDefault();
      close(box);
    }
  });

  /* mousedown, not click: the textarea keeps its caret */
  document.addEventListener("mousedown", function (e) {
    var li = e.target.closest && e.target.closest(".mention-options li[data-id]");
    if (li) { e.preventDefault(); choose(boxOf(li), li); return; }
    document.querySelectorAll("[data-mentions]").forEach(function (box) {
      if (!box.contains(e.target)) close(box);
    });
  });

  /* after a comment is sent, the fresh box takes the focus again */
  document.addEventListener("htmx:afterSettle", function (e) {
    var form = e.detail.requestConfig && e.detail.requestConfig.elt;
    if (form && form.classList && form.classList.contains("comment-form")) {
      var area = document.getElementById("comment-body");
      if (area) area.focus();
    }
  });
})();
