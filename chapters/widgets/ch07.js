// Chapter 7's widget: selective copying with the model chapter 9 trains,
// run in recurrent mode by `ch07_copying` (book/widgets/src/ch07.rs).
// Without JavaScript the controls stay hidden and the static figure shows.
(function () {
  const div = document.getElementById("ch07-copying");
  if (!div || typeof SsmWidgets === "undefined") return;
  const controls = div.querySelector(".widget-controls");
  if (controls) controls.hidden = false;
  // The model's weights (data-selective-copying.js, which only this page
  // loads), handed to the module once.
  let model = null;
  const load = (w) => {
    if (!model) {
      model = SsmWidgets.data("selective-copying").then((b) => w.ch07_load_model(b));
    }
    return model;
  };
  SsmWidgets.register("ch07-copying", {
    controls: ["ch07-copying-tokens", "ch07-copying-layer"],
    render: async (w, v) => {
      await load(w);
      return w.ch07_copying(v["ch07-copying-tokens"], +v["ch07-copying-layer"]);
    },
  });
  // "Random placement": four data tokens at distinct random positions among
  // the 64, as the task draws them.
  const button = document.getElementById("ch07-copying-random");
  const box = document.getElementById("ch07-copying-tokens");
  if (!button || !box) return;
  button.addEventListener("click", () => {
    const cells = Array(64).fill(".");
    const letters = "ABCDEFGHIJKLMN";
    for (let placed = 0; placed < 4; ) {
      const p = Math.floor(Math.random() * 64);
      if (cells[p] === ".") {
        cells[p] = letters[Math.floor(Math.random() * letters.length)];
        placed += 1;
      }
    }
    box.value = cells.join("").replace(/\.+$/, "");
    box.dispatchEvent(new Event("input"));
  });
})();
