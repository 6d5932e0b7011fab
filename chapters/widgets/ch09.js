// Chapter 9's widget: the book's model writes in the browser. A
// `Ch09Writer` (book/widgets/src/ch09.rs) holds the model's caches; the page
// asks it for 16 bytes at a time and shows the text between calls, so the
// page never freezes. The model's 2 MB come from data-book-mamba.js, which
// only this page loads. A change of any control stops the text being written
// (at its next 16 bytes) and writes a new one. The block is hidden without
// JavaScript (the sample above stands alone).
(function () {
  const id = "ch09-generate";
  const div = document.getElementById(id);
  if (!div || typeof SsmWidgets === "undefined") return;
  div.hidden = false;
  const $ = (name) => document.getElementById(`${id}-${name}`);
  const names = ["prompt", "temperature", "top-p", "seed", "bytes", "go"];
  const CHUNK = 16;
  // Which text is wanted: a change makes the one being written stale.
  let epoch = 0;
  for (const name of names) {
    const el = $(name);
    if (!el) continue;
    if (name === "go") {
      // "Another sample": the next seed (this listener runs before the one
      // widgets.js adds, which draws again).
      el.addEventListener("click", () => {
        $("seed").value = String((+$("seed").value + 1) >>> 0);
        epoch += 1;
      });
    } else {
      el.addEventListener("input", () => (epoch += 1));
      el.addEventListener("change", () => (epoch += 1));
    }
  }
  // The model's weights (data-book-mamba.js, which only this page loads),
  // handed to the module once.
  let model = null;
  const load = (w) => {
    if (!model) {
      model = SsmWidgets.data("book-mamba").then((bytes) => w.ch09_load_model(bytes));
    }
    return model;
  };
  const number = (key) => div.querySelector(`.widget-numbers [data-number="${key}"]`);
  const out = (name) => {
    const o = document.getElementById(`${id}-${name}-out`);
    if (o) o.textContent = $(name).value;
  };
  SsmWidgets.register(id, {
    controls: names.map((name) => `${id}-${name}`),
    render: async (w, v) => {
      await load(w);
      const mine = epoch;
      out("temperature");
      out("top-p");
      const text = $("text");
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
      const bytes = Math.max(1, Math.min(4000, Math.floor(+v[`${id}-bytes`]) || 200));
      let busy = 0;
      try {
        while (writer.written() < bytes && mine === epoch) {
          const start = performance.now();
          text.textContent = writer.write(Math.min(CHUNK, bytes - writer.written()));
          busy += performance.now() - start;
          const [rate, written] = [number("bytes_per_s"), number("written")];
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
