/* Wide exhibits on a narrow screen (nhmg.css holds the matching styles).
 *
 * A table or static figure wider than its box scrolls sideways inside it; the box then gets
 * the class nhmg-scrolls and a visible cue ("scroll sideways ..."), so a table cut off at a
 * column boundary does not look complete. The cue sits in the caption for a table (the
 * caption stays in view while the table scrolls) and above the image for a figure, and it
 * says when the end has been reached. Re-checked on resize (a phone turned sideways). */
(function () {
  "use strict";
  var CUE = "Scroll sideways for more columns \u2192";
  var CUE_FIG = "Scroll sideways for the whole figure \u2192";
  var END = "\u2190 Scrolled to the last column";

  function cueFor(box) {
    var cue = box.querySelector(":scope .nhmg-scroll-cue");
    if (cue) return cue;
    cue = document.createElement("span");
    cue.className = "nhmg-scroll-cue";
    cue.setAttribute("aria-hidden", "true");
    var caption = box.querySelector(":scope > table > caption");
    if (caption) caption.appendChild(cue);
    else box.insertBefore(cue, box.firstChild);
    return cue;
  }

  function update(box) {
    var scrolls = box.scrollWidth > box.clientWidth + 1;
    box.classList.toggle("nhmg-scrolls", scrolls);
    if (!scrolls) {
      var old = box.querySelector(":scope .nhmg-scroll-cue");
      if (old) old.remove();
      return;
    }
    var cue = cueFor(box);
    var atEnd = box.scrollLeft + box.clientWidth >= box.scrollWidth - 2;
    var table = box.classList.contains("nhmg-table-wrap");
    cue.textContent = atEnd && table ? END : (table ? CUE : CUE_FIG);
  }

  function boxes() {
    return document.querySelectorAll(".nhmg-table-wrap, .nhmg-figure-scroll, .nhmg-plotly-scroll");
  }

  function all() { boxes().forEach(update); }

  // A static figure is drawn at no less than MIN_SCALE of its own size (its text stays
  // legible on a phone) and scrolls sideways in its own box when that is wider than the page.
  var MIN_SCALE = 0.8;

  function legible(img) {
    if (!img.naturalWidth) return;
    img.style.minWidth = Math.round(MIN_SCALE * img.naturalWidth) + "px";
    update(img.parentElement);
  }

  function wrapFigures() {
    document.querySelectorAll("figure img").forEach(function (img) {
      if (img.parentElement.classList.contains("nhmg-figure-scroll")) return;
      var box = document.createElement("div");
      box.className = "nhmg-figure-scroll";
      img.parentNode.insertBefore(box, img);
      box.appendChild(img);
      if (img.complete) legible(img);
      else img.addEventListener("load", function () { legible(img); });
    });
  }

  function init() {
    wrapFigures();
    boxes().forEach(function (box) {
      box.addEventListener("scroll", function () { update(box); }, {passive: true});
    });
    all();
    window.addEventListener("resize", all);
    // images load after DOMContentLoaded: measure again once they have a size
    window.addEventListener("load", all);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
