// Chapter 5's widget: the eigenvalues (an initialisation at N, random, or
// one placed mode) and Δ → the eigenvalues, the kernel, its spectrum and the
// memory curve, computed by `ch05_s4d` (book/widgets/src/ch05.rs). The
// block is hidden without JavaScript (the static figure above stands alone).
(function () {
  const div = document.getElementById("ch05-s4d");
  if (!div || typeof SsmWidgets === "undefined") return;
  div.hidden = false;
  const show = (id, text) => {
    const e = document.getElementById(id);
    if (e) e.textContent = text;
  };
  SsmWidgets.register("ch05-s4d", {
    controls: [
      "ch05-s4d-init",
      "ch05-s4d-n",
      "ch05-s4d-logdt",
      "ch05-s4d-re",
      "ch05-s4d-im",
    ],
    render: (w, v) => {
      show("ch05-s4d-dt-out", Math.pow(10, +v["ch05-s4d-logdt"]).toPrecision(2));
      show("ch05-s4d-re-out", (+v["ch05-s4d-re"]).toFixed(2));
      show("ch05-s4d-im-out", (+v["ch05-s4d-im"]).toFixed(1));
      return w.ch05_s4d(
        v["ch05-s4d-init"],
        +v["ch05-s4d-n"],
        +v["ch05-s4d-logdt"],
        +v["ch05-s4d-re"],
        +v["ch05-s4d-im"],
      );
    },
  });
})();
