// Chapter 8's widget: the chunk length Q over SSD's matrix M → which step of
// ssd_chunked computes each block, and the largest differences between the
// quadratic, chunked and scan forms for inputs from the reader's seed,
// computed by `ch08_chunks` (book/widgets/src/ch08.rs). The block is hidden
// without JavaScript (the static figure above stands alone).
(function () {
  const div = document.getElementById("ch08-chunks");
  if (!div || typeof SsmWidgets === "undefined") return;
  div.hidden = false;
  SsmWidgets.register("ch08-chunks", {
    controls: ["ch08-chunks-q", "ch08-chunks-seed"],
    render: (w, v) => w.ch08_chunks(+v["ch08-chunks-q"], +v["ch08-chunks-seed"]),
  });
})();
