// Chapter 1's widget: an RNN's spectral radius and nonlinearity → the
// gradient norm against the lag and the memory curve, computed by
// `ch01_rnn` (book/widgets/src/ch01.rs). The block is hidden without
// JavaScript (the static figures above stand alone).
(function () {
  const div = document.getElementById("ch01-rnn");
  if (!div || typeof SsmWidgets === "undefined") return;
  div.hidden = false;
  const out = document.getElementById("ch01-rnn-rho-out");
  SsmWidgets.register("ch01-rnn", {
    controls: ["ch01-rnn-rho", "ch01-rnn-kind"],
    render: (w, v) => {
      if (out) out.textContent = (+v["ch01-rnn-rho"]).toFixed(2);
      return w.ch01_rnn(+v["ch01-rnn-rho"], v["ch01-rnn-kind"]);
    },
  });
})();
