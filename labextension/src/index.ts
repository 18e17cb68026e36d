/**
 * jupyter-shimtask in JupyterLab, one plugin per feature: "New ShimTask Notebook" (Launcher,
 * palette, File > New, Notebook 7's tree button), "Insert %%shimtask Cell", the `%%shimtask`
 * magic-line marking, and the notebook renderer that picks the live inspector widget or the static
 * template view (the template renderer for other outputs is the MIME extension in mime.ts).
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, IToolbarWidgetRegistry, ToolbarButton } from '@jupyterlab/apputils';
import { EditorExtensionRegistry, IEditorExtensionRegistry } from '@jupyterlab/codemirror';
import { PageConfig, PathExt } from '@jupyterlab/coreutils';
import { FileBrowser, IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import { shimtaskMagicLine } from './editor';
import { NOTEBOOK_RENDERER_RANK, notebookRendererFactory } from './renderer';
import { INSERTED_CELL, LOAD_CELL, scaffoldNotebook } from './scaffold';
import iconSvg from '../style/icon.svg';

export const CommandIDs = {
  newNotebook: 'shimtask:new-notebook',
  insertCell: 'shimtask:insert-cell'
};

export const shimtaskIcon = new LabIcon({ name: 'jupyter-shimtask:icon', svgstr: iconSvg });

const PALETTE_CATEGORY = 'ShimTask';
const PLUGIN_ID = 'jupyter-shimtask:commands';
/** The file browser toolbar item (declared in schema/commands.json); shown on Notebook 7's tree page. */
const TREE_TOOLBAR_ITEM = 'shimtask-new-notebook';

/** The default kernel when it speaks Python, else the first Python kernel. */
function pythonKernel(app: JupyterFrontEnd): { name: string; display_name: string; language: string } {
  const specs = app.serviceManager.kernelspecs.specs;
  const all = Object.values(specs?.kernelspecs ?? {}).filter(spec => spec !== undefined);
  const preferred = specs?.default ? specs.kernelspecs[specs.default] : undefined;
  const spec = preferred?.language === 'python' ? preferred : all.find(s => s!.language === 'python');
  if (!spec) {
    throw new Error('jupyter-shimtask needs a Python kernel; none is installed');
  }
  return { name: spec.name, display_name: spec.display_name, language: spec.language };
}

/** New ShimTask notebooks: the command, the Launcher card, the palette, File > New and Notebook 7's tree button. */
const newNotebookPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'New ShimTask notebooks: Launcher card, palette, File > New, Notebook 7 tree button',
  autoStart: true,
  optional: [ILauncher, ICommandPalette, IMainMenu, IDefaultFileBrowser, IToolbarWidgetRegistry, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    mainMenu: IMainMenu | null,
    browser: IDefaultFileBrowser | null,
    toolbarRegistry: IToolbarWidgetRegistry | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const { commands, serviceManager } = app;

    commands.addCommand(CommandIDs.newNotebook, {
      label: args => (args.isLauncher ? 'ShimTask Notebook' : 'New ShimTask Notebook'),
      caption: 'A notebook with a ready template-only task: define it, inspect its template, run it',
      icon: args => (args.isPalette ? undefined : shimtaskIcon),
      execute: async args => {
        await serviceManager.kernelspecs.ready;
        const kernel = pythonKernel(app);
        const folder = (args.cwd as string | undefined) ?? browser?.model.path ?? '';
        // one write of the finished file: a listing never meets a half-made or renamed notebook
        const path = await uniquePath(app, PathExt.join(folder, 'ShimTask.ipynb'));
        await serviceManager.contents.save(path, { type: 'notebook', format: 'json', content: scaffoldNotebook(kernel) });
        return commands.execute('docmanager:open', { path, factory: 'Notebook' });
      }
    });

    launcher?.add({
      command: CommandIDs.newNotebook,
      args: { isLauncher: true },
      category: 'Notebook',
      rank: 50,
      kernelIconUrl: `data:image/svg+xml,${encodeURIComponent(iconSvg)}` // the Notebook row shows images, not icons
    });
    palette?.addItem({ command: CommandIDs.newNotebook, category: PALETTE_CATEGORY });
    mainMenu?.fileMenu.newMenu.addGroup([{ command: CommandIDs.newNotebook }], 30);

    // Notebook 7's tree page: its "New" dropdown takes no items from extensions, so the file
    // browser toolbar gets a button beside it (JupyterLab has the Launcher card and File > New)
    toolbarRegistry?.addFactory(FILE_BROWSER_FACTORY, TREE_TOOLBAR_ITEM, (fileBrowser: FileBrowser) => {
      if (PageConfig.getOption('notebookPage') !== 'tree') {
        const nothing = new Widget();
        nothing.hide();
        return nothing;
      }
      return new ToolbarButton({
        icon: shimtaskIcon,
        label: 'New ShimTask notebook',
        tooltip: 'A notebook with a ready template-only task: define it, inspect its template, run it',
        className: 'jp-ShimTask-newNotebook',
        onClick: () => void commands.execute(CommandIDs.newNotebook, { cwd: fileBrowser.model.path })
      });
    });
    // the toolbar reads the item from this plugin's settings schema once it is loaded
    void settingRegistry?.load(PLUGIN_ID).catch(reason => console.warn('jupyter-shimtask settings:', reason));
  }
};

/** Insert %%shimtask Cell: the command, the palette and the notebook's context menu. */
const insertCellPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-shimtask:insert-cell',
  description: 'Inserts a %%shimtask scaffold cell (with %load_ext when the notebook lacks it)',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, palette: ICommandPalette | null) => {
    app.commands.addCommand(CommandIDs.insertCell, {
      label: 'Insert %%shimtask Cell',
      caption: 'Insert a %%shimtask cell with a task and its executor below the active cell',
      isEnabled: () => tracker.currentWidget !== null,
      execute: () => {
        const panel = tracker.currentWidget;
        if (!panel) {
          return;
        }
        insertScaffoldCell(panel);
      }
    });
    palette?.addItem({ command: CommandIDs.insertCell, category: PALETTE_CATEGORY });
    app.contextMenu.addItem({ command: CommandIDs.insertCell, selector: '.jp-Notebook', rank: 20 });
  }
};

const FILE_BROWSER_FACTORY = 'FileBrowser';

/**
 * The active cell if it is an empty code cell, else a new cell below it, filled with the scaffold.
 * A notebook that does not load the extension yet gets a `%load_ext jupyter_shimtask` cell above
 * it, or `%%shimtask` would be an unknown magic.
 */
function insertScaffoldCell(panel: NotebookPanel): void {
  const notebook = panel.content;
  const loads = notebook.model
    ? Array.from(notebook.model.cells).some(cell => /%(re)?load_ext\s+jupyter_shimtask\b/.test(cell.sharedModel.getSource()))
    : true;
  const active = notebook.activeCell;
  if (!active || active.model.type !== 'code' || active.model.sharedModel.getSource().trim()) {
    NotebookActions.insertBelow(notebook);
  }
  if (!loads) {
    notebook.activeCell!.model.sharedModel.setSource(LOAD_CELL);
    NotebookActions.insertBelow(notebook);
  }
  notebook.activeCell!.model.sharedModel.setSource(INSERTED_CELL);
}

async function uniquePath(app: JupyterFrontEnd, wanted: string): Promise<string> {
  const stem = wanted.slice(0, -PathExt.extname(wanted).length);
  for (let n = 0; ; n++) {
    const candidate = n ? `${stem}-${n}.ipynb` : wanted;
    try {
      await app.serviceManager.contents.get(candidate, { content: false });
    } catch {
      return candidate;
    }
  }
}

const editorPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-shimtask:cell-magic',
  description: 'Marks the %%shimtask magic line in cell editors',
  autoStart: true,
  requires: [IEditorExtensionRegistry],
  activate: (app: JupyterFrontEnd, registry: IEditorExtensionRegistry) => {
    registry.addExtension({
      name: 'jupyter-shimtask:magic-line',
      factory: () => EditorExtensionRegistry.createImmutableExtension(shimtaskMagicLine)
    });
  }
};

const notebookRendererPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-shimtask:notebook-renderer',
  description: 'In notebooks, the live inspector widget when it can be drawn, the static template view otherwise',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker) => {
    const register = (panel: NotebookPanel) => {
      const registry = panel.content.rendermime;
      registry.addFactory(notebookRendererFactory(registry), NOTEBOOK_RENDERER_RANK);
    };
    tracker.forEach(register);
    tracker.widgetAdded.connect((_, panel) => register(panel));
  }
};

export default [newNotebookPlugin, insertCellPlugin, editorPlugin, notebookRendererPlugin];
