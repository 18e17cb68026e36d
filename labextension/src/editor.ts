/**
 * Editing comfort for `%%shimtask` cells in CodeMirror 6: the magic line is marked (name and
 * arguments apart) so a cell reads as "this whole cell becomes a module". The body needs no
 * help: JupyterLab already edits IPython cells as Python, and the kernel completes it.
 */
import { RangeSetBuilder } from '@codemirror/state';
import { Decoration, DecorationSet, EditorView, ViewPlugin, ViewUpdate } from '@codemirror/view';

const MAGIC = /^(%%shimtask)(?=\s|$)(.*)$/;

const magicLine = Decoration.line({
  class: 'jp-ShimTask-magicLine',
  attributes: { title: '%%shimtask: this cell becomes a module in the workspace; the body is Python' }
});
const magicName = Decoration.mark({ class: 'jp-ShimTask-magicName' });
const magicArgs = Decoration.mark({ class: 'jp-ShimTask-magicArgs' });

export function magicDecorations(view: EditorView): DecorationSet {
  const doc = view.state.doc;
  const first = doc.line(1);
  const match = MAGIC.exec(first.text);
  if (!match) {
    return Decoration.none;
  }
  const builder = new RangeSetBuilder<Decoration>();
  builder.add(first.from, first.from, magicLine);
  builder.add(first.from, first.from + match[1].length, magicName);
  if (match[2].trim()) {
    builder.add(first.from + match[1].length, first.to, magicArgs);
  }
  return builder.finish();
}

export const shimtaskMagicLine = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;

    constructor(view: EditorView) {
      this.decorations = magicDecorations(view);
    }

    update(update: ViewUpdate): void {
      if (update.docChanged) {
        this.decorations = magicDecorations(update.view);
      }
    }
  },
  { decorations: plugin => plugin.decorations }
);
