// "Copy JSON": asks the kernel for the template's JSON only when clicked (it may be megabytes).

function render({ model, el }) {
  const button = document.createElement("button");
  // the classes of ipywidgets' own Button, so it has the same size as the Save buttons beside it
  button.className = "jupyter-widgets jupyter-button jupyter-widget-button widget-button shimtask-copy";
  button.textContent = "Copy JSON";
  const note = document.createElement("span");
  note.className = "shimtask-copy-note";
  note.style.marginLeft = "8px";
  button.addEventListener("click", () => model.send({ event: "copy" }));
  const received = async (message) => {
    if (typeof message.text !== "string") return;
    try {
      await navigator.clipboard.writeText(message.text);
    } catch {
      const area = document.createElement("textarea");
      area.value = message.text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    note.textContent = `copied ${message.text.length.toLocaleString()} characters`;
  };
  model.on("msg:custom", received);
  el.append(button, note);
  return () => model.off("msg:custom", received);
}

export default { render };
