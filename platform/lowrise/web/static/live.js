/* Lowrise live updates: listen to /live/events (server-sent events, EventSource) and redraw
   what another person changed. The events carry ids only; what is redrawn is fetched again
   through the page's own address, as this person sees it.

   Parts of a page that follow changes carry data-live-part="<what>" and an id:
     "case"     any change of a case (a table's rows, a board's columns);
     "case:12"  changes of case 12 (a record page's fields);
     "*"        any change (dashboards).
   A part with the focus inside, or a board while a card is dragged, is redrawn once left.
   An edit form (data-live-form="case:12", data-version) is not redrawn: it shows
   "changed by … — reload" when its record changes under it. No inline script. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="lowrise-live"]');
  if (!meta || !window.EventSource) return;
  var pending = {}, timer = null, flash = {}, source = null;

  function matches(what, ev) {
    if (what === "*") return ev.type !== undefined;
    var p = what.split(":");
    if (p[0] !== ev.type) return false;
    if (p.length === 1) return true;
    return ev.record === undefined || String(ev.record) === p[1];
  }

  function busy(part) {
    var active = document.activeElement;
    if (active && active !== document.body && part.contains(active)) return true;
    /* an editor open in a cell, or an answer on its way into the part: wait for it */
    if (part.querySelector(".cell-form, .htmx-request")) return true;
    return !!document.querySelector(".kcard.dragging, [data-live-hold]");
  }

  /* the page's own requests (a save, an editor opening): a redraw fetched before one of them
     answered may be older than what it put on the page, so it is fetched again */
  var own = 0;
  document.addEventListener("htmx:beforeRequest", function () { own++; });

  function redraw() {
    timer = null;
    var seen = own;
    var ids = Object.keys(pending);
    if (!ids.length) return;
    var held = {};
    ids.forEach(function (id) {
      var part = document.getElementById(id);
      if (part && busy(part)) held[id] = true;
    });
    var now = ids.filter(function (id) { return !held[id] && document.getElementById(id); });
    pending = held;
    if (Object.keys(held).length) schedule(1000);
    if (!now.length) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Lowrise-Live": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        if (own !== seen) {  // the person changed something meanwhile: fetch afresh
          now.forEach(function (id) { pending[id] = true; });
          schedule(300);
          return;
        }
        var doc = new DOMParser().parseFromString(html, "text/html");
        now.forEach(function (id) {
          var part = document.getElementById(id), fresh = doc.getElementById(id);
          if (!part || !fresh) return;
          if (busy(part)) {  // the person started working in it meanwhile: later
            pending[id] = true;
            schedule(1000);
            return;
          }
          if (window.Chart) {  // a dashboard's charts: let go of the old canvases
            part.querySelectorAll("canvas").forEach(function (c) {
              var chart = window.Chart.getChart(c);
              if (chart) chart.destroy();
            });
          }
          var checked = Array.prototype.map.call(
            part.querySelectorAll("input[type=checkbox][name=ids]:checked"), function (i) { return i.value; });
          var node = document.importNode(fresh, true);
          part.replaceWith(node);
          if (window.htmx) htmx.process(node);
          checked.forEach(function (v) {  // rows chosen for a bulk action stay chosen
            var box = node.querySelector('input[type=checkbox][name=ids][value="' + CSS.escape(v) + '"]');
            if (box) box.checked = true;
          });
          if (checked.length) node.dispatchEvent(new Event("change", { bubbles: true }));
          node.dispatchEvent(new CustomEvent("htmx:load", { bubbles: true, detail: { elt: node } }));
        });
        Object.keys(flash).forEach(function (rid) {
          document.querySelectorAll('[data-id="' + CSS.escape(rid) + '"]').forEach(function (el) {
            if (el.tagName === "ARTICLE") return;
            el.classList.add("live-changed");
            setTimeout(function () { el.classList.remove("live-changed"); }, 2000);
          });
        });
        flash = {};
      })
      .catch(function () { /* the next change tries again */ });
  }

  function schedule(ms) {
    if (timer === null) timer = setTimeout(redraw, ms);
  }

  function warn(form, ev) {
    var version = parseInt(form.getAttribute("data-version"), 10);
    if (ev.action !== "delete" && !(ev.version > version)) return;
    var box = form.querySelector(".live-warning");
    if (!box) {
      box = document.createElement("p");
      box.className = "flash flash-error live-warning";
      box.setAttribute("role", "alert");
      form.insertBefore(box, form.firstChild);
    }
    var who = ev.by || meta.getAttribute("data-someone");
    var text = meta.getAttribute(ev.action === "delete" ? "data-deleted" : "data-changed");
    box.textContent = "";
    box.appendChild(document.createTextNode(text.replace("{name}", who) + " "));
    var a = document.createElement("a");
    a.href = window.location.href;
    a.textContent = meta.getAttribute("data-reload");
    box.appendChild(a);
    form.setAttribute("data-live-stale", "1");
  }

  function inbox() {
    var link = document.getElementById("inbox-link");
    if (!link) return;
    fetch(meta.getAttribute("data-inbox"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) link.outerHTML = html; })
      .catch(function () {});
  }

  function onChange(e) {
    var ev;
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    if (e.lastEventId) meta.setAttribute("data-since", e.lastEventId);
    if (ev.action === "notice") { inbox(); return; }
    document.querySelectorAll("[data-live-form]").forEach(function (form) {
      if (ev.record !== undefined && matches(form.getAttribute("data-live-form"), ev)) warn(form, ev);
    });
    var any = false;
    document.querySelectorAll("[data-live-part]").forEach(function (part) {
      if (part.id && matches(part.getAttribute("data-live-part"), ev)) {
        pending[part.id] = true;
        any = true;
      }
    });
    if (ev.record !== undefined) flash[ev.record] = true;
    if (any) schedule(150);
  }

  function connect() {
    var url = meta.getAttribute("content") + "?since=" + encodeURIComponent(meta.getAttribute("data-since"));
    source = new EventSource(url);
    source.addEventListener("change", onChange);
    source.addEventListener("reload", function () { source.close(); window.location.reload(); });
    source.addEventListener("error", function () {
      // refused (busy, signed out): EventSource gives up; try again in a while
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 30000);
    });
    document.documentElement.setAttribute("data-live", "on");
  }

  document.addEventListener("DOMContentLoaded", connect);
  window.addEventListener("pagehide", function () { if (source) source.close(); });
})();
