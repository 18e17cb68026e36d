/** Renderers for the template MIME type. */
import { MimeModel } from '@jupyterlab/rendermime';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Panel, Widget } from '@lumino/widgets';
import { h } from './dom';
import { MIME_TYPE, TemplatePayload, WIDGET_VIEW_MIME_TYPE } from './payload';
import { templateView } from './view';

/** Draws the template from the payload alone; needs no kernel. Only text nodes are written, so it is safe. */
export class TemplateRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this.mimeType = options.mimeType;
    this.addClass('jp-ShimTask-renderer');
  }

  readonly mimeType: string;

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const payload = model.data[this.mimeType] as unknown as TemplatePayload | undefined;
    if (!payload || typeof payload !== 'object' || !payload.template || !payload.size) {
      this.node.replaceChildren(h('pre', {}, 'jupyter-shimtask: this output holds no template description'));
      return;
    }
    this.node.replaceChildren(templateView(payload));
  }
}

/**
 * In a notebook: the live inspector widget when the notebook's widget manager can draw it, and
 * the static view otherwise (a saved notebook, no kernel, or a kernel that no longer has the
 * widget). The static view stays until the widget has drawn something, and comes back if the
 * widget is gone.
 */
export class LiveOrStaticRenderer extends Panel implements IRenderMime.IRenderer {
  constructor(
    private options: IRenderMime.IRendererOptions,
    private registry: IRenderMimeRegistry
  ) {
    super();
    this.mimeType = options.mimeType;
    this.addClass('jp-ShimTask-liveOrStatic');
  }

  readonly mimeType: string;
  private observer: MutationObserver | null = null;

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.observer?.disconnect();
    for (const child of [...this.widgets]) {
      child.dispose();
    }
    const still = new TemplateRenderer(this.options);
    await still.renderModel(model);
    this.addWidget(still);
    const view = model.data[WIDGET_VIEW_MIME_TYPE];
    if (!view || !model.trusted || this.registry.getFactory(WIDGET_VIEW_MIME_TYPE) === undefined) {
      return;
    }
    const live = this.registry.createRenderer(WIDGET_VIEW_MIME_TYPE);
    live.hide();
    this.insertWidget(0, live);
    const update = () => {
      const drawn = live.node.firstElementChild !== null;
      live.setHidden(!drawn);
      still.setHidden(drawn);
    };
    this.observer = new MutationObserver(update);
    this.observer.observe(live.node, { childList: true });
    const widgetModel = new MimeModel({ data: { [WIDGET_VIEW_MIME_TYPE]: view }, metadata: model.metadata, trusted: true });
    // the widget renderer waits for its manager, which may never come without a kernel: not awaited
    live.renderModel(widgetModel).then(update, () => live.hide());
  }

  dispose(): void {
    this.observer?.disconnect();
    this.observer = null;
    super.dispose();
  }
}

export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [MIME_TYPE],
  createRenderer: options => new TemplateRenderer(options)
};

/** The notebook's own factory: it outranks the widget renderer (-10) so it can choose between them. */
export function notebookRendererFactory(registry: IRenderMimeRegistry): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [MIME_TYPE],
    createRenderer: options => new LiveOrStaticRenderer(options, registry)
  };
}

export const NOTEBOOK_RENDERER_RANK = -20;
