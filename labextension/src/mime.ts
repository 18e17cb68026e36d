/** The template renderer everywhere JupyterLab renders outputs (notebooks get their own, see index.ts). */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { MIME_TYPE } from './payload';
import { rendererFactory } from './renderer';

const extension: IRenderMime.IExtension = {
  id: 'jupyter-shimtask:template-renderer',
  description: 'Shows a ShimTask template description without a kernel',
  rendererFactory,
  rank: 0,
  dataType: 'json'
};

export default extension;
export { MIME_TYPE };
