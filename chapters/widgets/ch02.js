// Chapter 2's widget: the step Δ and the discretization rule → the ZOH
// staircase, the continuous response with the rule's samples on it, and each
// rule's eigenvalues against the unit circle, computed by `ch02_zoh`
// (book/widgets/src/ch02.rs). The block is hidden without JavaScript (the
// static figure above stands alone).
(function () {
  const div = document.getElementById("ch02-zoh");
  if (!div || typeof SsmWidgets === "undefined") return;
  div.hidden = false;
  SsmWidgets.register("ch02-zoh", {
    controls: ["ch02-zoh-dt", "ch02-zoh-rule"],
    render: (w, v) => w.ch02_zoh(+v["ch02-zoh-dt"], +v["ch02-zoh-rule"]),
  });
})();
