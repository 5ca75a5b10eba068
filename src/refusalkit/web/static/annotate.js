/* Keyboard shortcuts for the annotation and adjudication pages.
   The pages work without this file (plain forms); it only maps keys to the same radio
   buttons and buttons, couples behaviour and category in the taxonomy scheme, and saves
   as soon as a label is complete. It never inserts text into the page. */
(function () {
  "use strict";
  var form = document.getElementById("label-form");
  if (!form) { return; }
  var page = document.body.getAttribute("data-page");
  var scheme = document.body.getAttribute("data-scheme");
  var auto = document.getElementById("auto");
  var AUTO_KEY = "refusalkit.autoAdvance";
  var submitting = false;

  function storageGet(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } }
  function storageSet(key, v) { try { window.localStorage.setItem(key, v); } catch (e) { /* private mode */ } }

  if (auto) {
    var stored = storageGet(AUTO_KEY);
    if (stored !== null) { auto.checked = stored === "1"; }
    auto.addEventListener("change", function () { storageSet(AUTO_KEY, auto.checked ? "1" : "0"); });
  }

  var byKey = {};
  var radios = form.querySelectorAll("input[type=radio][data-key]");
  Array.prototype.forEach.call(radios, function (r) { byKey[r.getAttribute("data-key")] = r; });

  function checked(name) {
    var el = form.querySelector("input[name=" + name + "]:checked");
    return el ? el.value : null;
  }
  function setRadio(name, value) {
    Array.prototype.forEach.call(form.querySelectorAll("input[name=" + name + "]"), function (r) {
      r.checked = r.value === value;
    });
  }
  function complete() {
    var b = checked("behavior");
    if (scheme !== "taxonomy") { return !!b; }
    var c = checked("category");
    if (b === "full_compliance") { return true; }
    return !!(b && c && c !== "not_refusal");
  }
  function submit(action) {
    if (submitting) { return; }
    var button = document.getElementById(action === "skip" ? "skip" : "save");
    if (!button) { return; }
    submitting = true;
    if (form.requestSubmit) { form.requestSubmit(button); } else { button.click(); }
  }
  function couple(radio) {
    if (scheme !== "taxonomy") { return; }
    if (radio.name === "behavior") {
      if (radio.value === "full_compliance") { setRadio("category", "not_refusal"); }
      else if (checked("category") === "not_refusal") { setRadio("category", null); }
    } else if (radio.name === "category") {
      if (radio.value === "not_refusal") { setRadio("behavior", "full_compliance"); }
      else if (checked("behavior") === "full_compliance") { setRadio("behavior", null); }
    }
  }
  function pick(radio) {
    radio.checked = true;
    couple(radio);
    if (page === "annotate" && auto && auto.checked && complete()) { submit("save"); }
  }
  Array.prototype.forEach.call(radios, function (r) {
    r.addEventListener("change", function () { pick(r); });
  });

  function follow(id) {
    var link = document.getElementById(id);
    if (link && link.href) { window.location.assign(link.href); }
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing) { return; }
    var t = e.target;
    var tag = t && t.tagName ? t.tagName.toUpperCase() : "";
    var typing = tag === "TEXTAREA" || tag === "SELECT" ||
      (tag === "INPUT" && t.type !== "radio" && t.type !== "checkbox");
    if (typing) {
      if (e.key === "Escape") { t.blur(); }
      return;
    }
    var k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (Object.prototype.hasOwnProperty.call(byKey, k)) {
      e.preventDefault();
      pick(byKey[k]);
    } else if (k === "Enter") {
      e.preventDefault();
      submit("save");
    } else if (k === "s" && page === "annotate") {
      e.preventDefault();
      submit("skip");
    } else if (k === "u" && page === "annotate") {
      e.preventDefault();
      var undo = document.getElementById("undo-form");
      if (undo && !submitting) { submitting = true; undo.submit(); }
    } else if (k === "ArrowLeft") {
      follow("prev");
    } else if (k === "ArrowRight") {
      follow("next");
    } else if (k === "/") {
      e.preventDefault();
      var box = document.getElementById("comment");
      if (box) { box.focus(); }
    } else if (k === "?") {
      var defs = document.querySelector("details.defs");
      if (defs) { defs.open = !defs.open; }
    }
  });
})();
