// Chapter 9's widget: the book's model writes in the browser. A
// `Ch09Writer` (book/widgets/src/ch09.rs) holds the model's caches; the page
// asks it for 16 bytes at a time and shows the text between calls, so the
// page never freezes; a newer render (a changed control) stops an older one.
(function () {
  const id = "ch09-generate";
  const $ = (name) => document.getElementById(`${id}-${name}`);
  const CHUNK = 16;
  let current = 0;
  // "Another sample": the next seed, then a render (this listener runs
  // before the one widgets.js adds for the button).
  const go = $("go");
  if (go) {
    go.addEventListener("click", () => {
      $("seed").value = String((+$("seed").value + 1) >>> 0);
    });
  }
  const shown = (input) => {
    const out = input && input.parentElement.querySelector("output");
    if (out) out.textContent = input.value;
  };
  SsmWidgets.register(id, {
    controls: [
      `${id}-prompt`,
      `${id}-temperature`,
      `${id}-top-p`,
      `${id}-seed`,
      `${id}-bytes`,
      `${id}-go`,
    ],
    render: async (w, v) => {
      const run = ++current;
      shown($("temperature"));
      shown($("top-p"));
      const text = $("text");
      const live = (key) =>
        document.querySelector(`#${id} .widget-numbers [data-number="${key}"]`);
      let writer;
      try {
        writer = new w.Ch09Writer(
          v[`${id}-prompt`],
          +v[`${id}-temperature`],
          +v[`${id}-top-p`],
          +v[`${id}-seed`] >>> 0,
        );
      } catch (message) {
        text.textContent = String(message);
        return JSON.stringify({ svg: "<svg></svg>", numbers: {} });
      }
      const bytes = Math.max(1, Math.min(4000, +v[`${id}-bytes`] || 200));
      let busy = 0;
      try {
        while (writer.written() < bytes && run === current) {
          const start = performance.now();
          text.textContent = writer.write(Math.min(CHUNK, bytes - writer.written()));
          busy += performance.now() - start;
          const [rate, written] = [live("bytes_per_s"), live("written")];
          if (rate) rate.textContent = String(Math.round((1000 * writer.written()) / busy));
          if (written) written.textContent = String(writer.written());
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        const widget = JSON.parse(writer.widget());
        widget.numbers.bytes_per_s = (1000 * writer.written()) / Math.max(busy, 1e-3);
        return JSON.stringify(widget);
      } finally {
        writer.free();
      }
    },
  });
})();
