// Chapter 3's widget: a measure, N and a history → what the state remembers
// of the history at t and at 2t, computed by `ch03_hippo`
// (book/widgets/src/ch03.rs). The block is hidden without JavaScript (the
// static figure above stands alone).
(function () {
  const div = document.getElementById("ch03-hippo");
  if (!div || typeof SsmWidgets === "undefined") return;
  div.hidden = false;
  const out = document.getElementById("ch03-hippo-t-out");
  SsmWidgets.register("ch03-hippo", {
    controls: [
      "ch03-hippo-measure",
      "ch03-hippo-n",
      "ch03-hippo-history",
      "ch03-hippo-t",
    ],
    render: (w, v) => {
      if (out) out.textContent = (+v["ch03-hippo-t"]).toFixed(2);
      return w.ch03_hippo(
        v["ch03-hippo-measure"],
        +v["ch03-hippo-n"],
        v["ch03-hippo-history"],
        +v["ch03-hippo-t"],
      );
    },
  });
})();
