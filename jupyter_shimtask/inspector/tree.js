// The custom tree: draws the rows Python sends and reports clicks back; Python owns all state.

function highlighted(text, query) {
  const span = document.createElement("span");
  if (!query) {
    span.textContent = text;
    return span;
  }
  const lower = text.toLowerCase();
  let start = 0;
  for (let at = lower.indexOf(query); at !== -1; at = lower.indexOf(query, start)) {
    span.append(text.slice(start, at));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(at, at + query.length);
    span.append(mark);
    start = at + query.length;
  }
  span.append(text.slice(start));
  return span;
}

function moreRow(row, model) {
  const button = document.createElement("button");
  button.className = "shimtask-more";
  button.style.marginLeft = `${row.depth * 16 + 16}px`;
  button.textContent = `show ${Math.min(row.more, model.get("page")).toLocaleString()} more of ${row.more.toLocaleString()}`;
  button.addEventListener("click", () => model.send({ event: "more", id: row.parent }));
  return button;
}

function nodeRow(row, model, query) {
  const line = document.createElement("div");
  line.className = "shimtask-row" + (row.match ? " shimtask-match" : "");
  line.dataset.id = row.id;
  line.dataset.size = row.size;
  line.style.paddingLeft = `${row.depth * 16}px`;
  const caret = document.createElement("span");
  caret.className = "shimtask-caret";
  caret.textContent = row.count ? (row.open ? "▾" : "▸") : " ";
  const key = highlighted(row.key, query);
  key.className = "shimtask-key";
  const preview = highlighted(row.preview, row.count ? "" : query);
  preview.className = "shimtask-preview";
  const size = document.createElement("span");
  size.className = "shimtask-size";
  size.textContent = `${row.size.toLocaleString()} B`;
  line.append(caret, key, preview, size);
  if (row.count) {
    line.classList.add("shimtask-expandable");
    line.addEventListener("click", () => model.send({ event: "toggle", id: row.id }));
  }
  return line;
}

function render({ model, el }) {
  el.classList.add("shimtask-tree");
  const draw = () => {
    const query = (model.get("query") || "").trim().toLowerCase();
    const rows = model.get("rows").map((row) => (row.more ? moreRow(row, model) : nodeRow(row, model, query)));
    el.replaceChildren(...rows);
  };
  model.on("change:rows", draw);
  draw();
  return () => model.off("change:rows", draw);
}

export default { render };
