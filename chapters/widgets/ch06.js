// Chapter 6's widget: Hillis–Steele and Blelloch on L elements, one level
// at a time, computed by `ch06_trees` (book/widgets/src/ch06.rs) from the
// crate's scans run on traced elements. The buttons step the level slider.
// The block is hidden without JavaScript (the static figure above stands
// alone).
(function () {
  const div = document.getElementById("ch06-trees");
  if (!div || typeof SsmWidgets === "undefined") return;
  div.hidden = false;
  const level = document.getElementById("ch06-trees-level");
  const show = (id, text) => {
    const e = document.getElementById(id);
    if (e) e.textContent = text;
  };
  SsmWidgets.register("ch06-trees", {
    controls: ["ch06-trees-len", "ch06-trees-level"],
    render: (w, v) => {
      show("ch06-trees-len-out", v["ch06-trees-len"]);
      show("ch06-trees-level-out", v["ch06-trees-level"]);
      return w.ch06_trees(+v["ch06-trees-len"], +v["ch06-trees-level"]);
    },
  });
  const step = (by) => () => {
    if (!level) return;
    const next = Math.min(+level.max, Math.max(+level.min, +level.value + by));
    if (next === +level.value) return;
    level.value = String(next);
    level.dispatchEvent(new Event("input"));
  };
  const prev = document.getElementById("ch06-trees-prev");
  const next = document.getElementById("ch06-trees-next");
  if (prev) prev.addEventListener("click", step(-1));
  if (next) next.addEventListener("click", step(1));
})();
