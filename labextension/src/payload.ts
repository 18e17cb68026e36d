/** The document `jupyter_shimtask.payload.template_payload` writes (MIME type below). Keys may be added. */
import { JsonObject, JsonValue } from './protobufSize';

export const MIME_TYPE = 'application/vnd.jupyter-shimtask.template+json';
export const WIDGET_VIEW_MIME_TYPE = 'application/vnd.jupyter.widget-view+json';
export const KNOWN_VERSION = 1;

export type SizeStatus = 'ok' | 'warn' | 'over';

export interface Variable {
  name: string;
  type: string;
  description: string;
}

export interface Finding {
  code: string;
  path: string;
  message: string;
  severity: string;
}

/** A `custom` key left out of the saved copy, as Python's tree describes it (exact bytes of its value). */
export interface TrimmedRow {
  key: string;
  kind: 'object' | 'array' | 'string' | 'number' | 'bool' | 'null';
  preview: string;
  size: number;
  count: number;
}

/** What a saved (trimmed) payload left out; every figure is Python's. */
export interface Trimmed {
  custom_keys?: number;
  custom_keys_kept?: number;
  custom_bytes?: number;
  custom_rows?: TrimmedRow[];
  size_custom_keys_kept?: number;
  size_custom_bytes_left_out?: number;
  findings?: number;
  findings_kept?: number;
}

export interface TemplatePayload {
  version: number;
  id: { project: string; domain: string; name: string; version: string };
  type: string;
  image: string;
  executor: string | null;
  args: string[];
  template: { custom?: JsonObject; container?: JsonObject; metadata?: JsonObject; [key: string]: JsonValue | undefined };
  size: {
    total: number;
    status: SizeStatus;
    warn_bytes: number;
    over_bytes: number;
    fields: Record<string, number>;
    custom: Record<string, number>;
  };
  findings: Finding[];
  interface?: { inputs: Variable[]; outputs: Variable[] };
  trimmed?: Trimmed | null;
}
