/**
 * The document `jupyter_shimtask.inspector.payload.template_payload` writes (MIME type below).
 * Every figure, preview and row in it is Python's; the view draws them as they are. Keys may be added.
 */
export const MIME_TYPE = 'application/vnd.jupyter-shimtask.template+json';
export const WIDGET_VIEW_MIME_TYPE = 'application/vnd.jupyter.widget-view+json';
export const KNOWN_VERSION = 2;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type SizeStatus = 'ok' | 'warn' | 'over';
export type Kind = 'object' | 'array' | 'string' | 'number' | 'bool' | 'null';
export type Key = string | number;
export type NodePath = Key[];

/**
 * The `custom` tree, column by column, one entry a node in tree order (a node, then its children):
 * `labels`, `kinds` (one letter a node, see `KINDS`), `bytes`, `previews` and `children` (how many
 * of the nodes that follow are its children). `long` lists the strings whose preview is cut (they
 * open to their whole text, which is in `template.custom`), `trimmed` the keys left out of the saved copy.
 */
export interface TreeColumns {
  labels: string[];
  kinds: string;
  bytes: number[];
  previews: string[];
  children: number[];
  long: number[];
  trimmed: number[];
}

export const KINDS: Record<string, Kind> = { o: 'object', a: 'array', s: 'string', n: 'number', b: 'bool', z: 'null' };

/** Size bars, biggest first: `[name, bytes, trimmed from the saved copy]`; `more` sums up the rest as `[parts, bytes]`. */
export interface Bars {
  rows: [string, number, boolean][];
  more: [number, number] | null;
}

/** A Container pane row: plain `text`, or `code` items with `sep` between them (`'\n'`: a line break). */
export interface Row {
  name: string;
  text?: string;
  /** each item is pieces: plain, `{{.placeholder}}`, plain, ... */
  code?: string[][];
  sep?: string;
}

/** A Container pane section: its rows, or a `note` when it has nothing to list. */
export interface Section {
  title: string;
  rows?: Row[];
  note?: string;
}

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
  kind: Kind;
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
  title: string;
  type: string;
  image: string;
  executor: string | null;
  args: string[];
  template: { custom?: JsonObject; [key: string]: JsonValue | undefined };
  size: {
    total: number;
    status: SizeStatus;
    warn_bytes: number;
    over_bytes: number;
    limits: string;
    fields: Record<string, number>;
    custom: Record<string, number>;
  };
  bars: { fields: Bars; custom: Bars };
  tree: TreeColumns;
  container: Section[];
  findings: Finding[];
  interface: { inputs: Variable[]; outputs: Variable[] };
  trimmed?: Trimmed | null;
}
