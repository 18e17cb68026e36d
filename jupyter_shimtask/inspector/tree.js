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
  const opens = row.count || row.long;
  const caret = document.createElement("span");
  caret.className = "shimtask-caret";
  caret.textContent = opens ? (row.open ? "▾" : "▸") : " ";
  const key = highlighted(row.key, query);
  key.className = "shimtask-key";
  const preview = highlighted(row.preview, row.count ? "" : query);
  preview.className = "shimtask-preview";
  const size = document.createElement("span");
  size.className = "shimtask-size";
  size.textContent = `${row.size.toLocaleString()} B`;
  line.append(caret, key, preview, size);
  if (opens) {
    line.classList.add("shimtask-expandable");
    if (row.long && !row.open) line.title = "click to read the whole string";
    line.addEventListener("click", () => model.send({ event: "toggle", id: row.id }));
  }
  return line;
}

function fullText(row) {
  const box = document.createElement("div");
  box.className = "shimtask-full";
  box.style.marginLeft = `${row.depth * 16 + 16}px`;
  const copy = document.createElement("button");
  copy.textContent = "copy";
  copy.title = "copy the whole string";
  copy.addEventListener("click", async () => {
    await navigator.clipboard?.writeText(row.text);
    copy.textContent = "copied";
  });
  box.append(copy, row.text);
  return box;
}

// Esc in the inspector's search box gives the keyboard back to the notebook (Ctrl+S works again)
if (!globalThis.__shimtaskEscape) {
  globalThis.__shimtaskEscape = true;
  document.addEventListener(
    "keydown",
    (event) => {
      const input = event.target;
      if (event.key !== "Escape" || !input.closest?.(".shimtask-search")) return;
      input.blur();
      input.closest(".jp-Notebook")?.focus();
    },
    true,
  );
}

function render({ model, el }) {
  el.classList.add("shimtask-tree");
  let drawnQuery = "";
  const draw = () => {
    const query = (model.get("query") || "").trim().toLowerCase();
    const rows = model
      .get("rows")
      .flatMap((row) =>
        row.more ? [moreRow(row, model)] : row.text !== undefined ? [nodeRow(row, model, query), fullText(row)] : [nodeRow(row, model, query)],
      );
    el.replaceChildren(...rows);
    if (query && query !== drawnQuery) {
      // a new search: bring its first match into the tree's own view (it may sit far down a long list)
      const first = el.querySelector(".shimtask-match");
      if (first) {
        const box = el.getBoundingClientRect();
        const at = first.getBoundingClientRect();
        if (at.top < box.top || at.bottom > box.bottom) el.scrollTop += at.top - box.top - box.height / 3;
      }
    }
    drawnQuery = query;
  };
  model.on("change:rows", draw);
  draw();
  return () => model.off("change:rows", draw);
}

export default { render };
