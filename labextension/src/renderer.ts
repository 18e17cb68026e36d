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
    if (!payload.tree || !payload.bars || !payload.container) {
      const saved = `jupyter-shimtask: this template view was saved by an older version (payload version ${payload.version}); run the cell again to draw it`;
      this.node.replaceChildren(h('pre', {}, saved));
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
 *
 * After a page reload the outputs render before the widget manager has registered its renderer
 * for this notebook (and it only re-draws the widget renderers it can see, not one inside this
 * panel), so the live renderer is made again whenever the notebook's widget factory changes,
 * until it draws or `LIVE_WAIT_MS` have passed.
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
  private timer = 0;
  private live: IRenderMime.IRenderer | null = null;
  private liveFactory: IRenderMime.IRendererFactory | undefined = undefined;

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.stopWatching();
    for (const child of [...this.widgets]) {
      child.dispose();
    }
    this.live = null;
    this.liveFactory = undefined;
    const still = new TemplateRenderer(this.options);
    await still.renderModel(model);
    this.addWidget(still);
    const view = model.data[WIDGET_VIEW_MIME_TYPE];
    if (!view || !model.trusted) {
      return;
    }
    const widgetModel = new MimeModel({ data: { [WIDGET_VIEW_MIME_TYPE]: view }, metadata: model.metadata, trusted: true });
    const drawn = () => this.live !== null && this.live.node.firstElementChild !== null;
    const update = () => {
      this.live?.setHidden(!drawn());
      still.setHidden(drawn());
    };
    const attach = () => {
      const factory = this.registry.getFactory(WIDGET_VIEW_MIME_TYPE);
      if (factory === undefined || factory === this.liveFactory) {
        return;
      }
      this.liveFactory = factory;
      this.observer?.disconnect();
      this.live?.dispose();
      const live = this.registry.createRenderer(WIDGET_VIEW_MIME_TYPE);
      this.live = live;
      live.hide();
      this.insertWidget(0, live);
      this.observer = new MutationObserver(update);
      this.observer.observe(live.node, { childList: true });
      // the widget renderer waits for its manager, which may never come without a kernel: not awaited
      live.renderModel(widgetModel).then(update, () => live.hide());
    };
    attach();
    const started = Date.now();
    this.timer = window.setInterval(() => {
      if (drawn() || this.isDisposed || Date.now() - started > LIVE_WAIT_MS) {
        window.clearInterval(this.timer);
        return;
      }
      attach();
    }, LIVE_POLL_MS);
  }

  private stopWatching(): void {
    window.clearInterval(this.timer);
    this.observer?.disconnect();
    this.observer = null;
  }

  dispose(): void {
    this.stopWatching();
    super.dispose();
  }
}

const LIVE_POLL_MS = 500;
const LIVE_WAIT_MS = 120_000;

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
