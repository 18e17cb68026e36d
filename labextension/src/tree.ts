/**
 * The `custom` tree: a template's `custom` Struct (its JSON form) read only where it is looked at.
 *
 * It follows the inspector widget: object children sorted by key, array children by index, a
 * node's size is `ByteSize()` of its `Value` (the root's, of the `custom` Struct), a search
 * matches keys and scalar values ignoring case and opens the branches to its first matches, and
 * a node shows a page of children at a time.
 */
import { h, grouped } from './dom';
import { TrimmedRow } from './payload';
import { JsonObject, JsonValue, structSize, valueSize } from './protobufSize';

export type Key = string | number;
export type NodePath = Key[];
export type Kind = 'object' | 'array' | 'string' | 'number' | 'bool' | 'null';

export const PAGE = 100;
export const MATCH_LIMIT = 200;
export const PREVIEW_CHARS = 80;
export const TRIMMED_MARK = 'trimmed from the saved copy';
const SEARCH_DELAY_MS = 250;

export function kindOf(value: JsonValue): Kind {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'array';
  }
  switch (typeof value) {
    case 'object':
      return 'object';
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    default:
      return 'bool';
  }
}

/** A number as the executor gets it: a Python float (`3.0`, `0.5`, `1e+16`). */
export function pythonFloat(n: number): string {
  if (Number.isNaN(n)) {
    return 'nan';
  }
  if (!Number.isFinite(n)) {
    return n > 0 ? 'inf' : '-inf';
  }
  if (n === 0) {
    return Object.is(n, -0) ? '-0.0' : '0.0';
  }
  const exponent = Math.floor(Math.log10(Math.abs(n)));
  if (exponent < -4 || exponent >= 16) {
    // shortest round-trip digits, Python's exponent form: 1e-05, 1.5e+17
    return n.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  }
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

export function scalarText(value: JsonValue): string {
  switch (kindOf(value)) {
    case 'string':
      return value as string;
    case 'number':
      return pythonFloat(value as number);
    case 'bool':
      return value ? 'true' : 'false';
    default:
      return 'null';
  }
}

function count(value: JsonValue): number {
  const kind = kindOf(value);
  if (kind === 'array') {
    return (value as JsonValue[]).length;
  }
  return kind === 'object' ? Object.keys(value as JsonObject).length : 0;
}

export function preview(value: JsonValue): string {
  const kind = kindOf(value);
  if (kind === 'object') {
    const n = count(value);
    return `{${grouped(n)} key${n === 1 ? '' : 's'}}`;
  }
  if (kind === 'array') {
    const n = count(value);
    return `[${grouped(n)} item${n === 1 ? '' : 's'}]`;
  }
  if (kind === 'string') {
    const text = JSON.stringify(value);
    return text.length <= PREVIEW_CHARS ? text : text.slice(0, PREVIEW_CHARS - 2) + '…"';
  }
  return scalarText(value);
}

export function pathId(path: NodePath): string {
  return JSON.stringify(path);
}

export interface SearchResult {
  query: string;
  matches: NodePath[];
  total: number;
  /** matches that are keys trimmed from the saved copy (their values are not in the notebook) */
  trimmed?: number;
}

export function describeResult(result: SearchResult): string {
  if (!result.query.trim()) {
    return '';
  }
  if (!result.total) {
    return 'no matches';
  }
  const shown = result.total > result.matches.length ? `, first ${grouped(result.matches.length)} opened` : '';
  const trimmed = result.trimmed ? ` (${grouped(result.trimmed)} ${TRIMMED_MARK})` : '';
  return `${grouped(result.total)} match${result.total === 1 ? '' : 'es'}${shown}${trimmed}`;
}

export class CustomTree {
  private sortedKeys = new WeakMap<object, string[]>();
  private trimmed: Map<string, TrimmedRow>;

  /**
   * `trimmedRows` are the top-level keys a saved payload left out, with Python's figures;
   * `rootBytes` is then the whole `custom` Struct's size (also Python's).
   */
  constructor(
    readonly root: JsonObject,
    trimmedRows: TrimmedRow[] = [],
    private rootBytes?: number
  ) {
    this.trimmed = new Map(trimmedRows.filter(row => !(row.key in root)).map(row => [row.key, row]));
  }

  /** The row Python sent for a key trimmed from the saved copy, if `path` is one. */
  trimmedRow(path: NodePath): TrimmedRow | undefined {
    return path.length === 1 && typeof path[0] === 'string' ? this.trimmed.get(path[0]) : undefined;
  }

  get trimmedCount(): number {
    return this.trimmed.size;
  }

  value(path: NodePath): JsonValue {
    let cursor: JsonValue = this.root;
    for (const key of path) {
      cursor = Array.isArray(cursor) ? cursor[key as number] : (cursor as JsonObject)[key as string];
    }
    return cursor;
  }

  /** `ByteSize()` of the node's message: the `custom` Struct for the root, its `Value` below. */
  size(path: NodePath): number {
    const trimmed = this.trimmedRow(path);
    if (trimmed) {
      return trimmed.size;
    }
    return path.length ? valueSize(this.value(path)) : (this.rootBytes ?? structSize(this.root));
  }

  childKeys(value: JsonValue): Key[] {
    const kind = kindOf(value);
    if (kind === 'array') {
      return (value as JsonValue[]).map((_, index) => index);
    }
    if (kind !== 'object') {
      return [];
    }
    let keys = this.sortedKeys.get(value as JsonObject);
    if (!keys) {
      const own = Object.keys(value as JsonObject);
      keys = (value === this.root ? [...own, ...this.trimmed.keys()] : own).sort(compareKeys);
      this.sortedKeys.set(value as JsonObject, keys);
    }
    return keys;
  }

  search(query: string, limit = MATCH_LIMIT): SearchResult {
    const needle = query.trim().toLowerCase();
    const matches: NodePath[] = [];
    let total = 0;
    let trimmed = 0;
    if (!needle) {
      return { query, matches, total };
    }
    const stack: [NodePath, JsonValue][] = [[[], this.root]];
    while (stack.length) {
      const [path, value] = stack.pop()!;
      const key = path.length ? path[path.length - 1] : undefined;
      const keyHit = typeof key === 'string' && key.toLowerCase().includes(needle);
      if (this.trimmedRow(path)) {
        // only its key and Python's figures are in the saved copy
        if (keyHit) {
          total += 1;
          trimmed += 1;
          if (matches.length < limit) {
            matches.push(path);
          }
        }
        continue;
      }
      const kind = kindOf(value);
      const valueHit = kind !== 'object' && kind !== 'array' && scalarText(value).toLowerCase().includes(needle);
      if (keyHit || valueHit) {
        total += 1;
        if (matches.length < limit) {
          matches.push(path);
        }
      }
      const keys = this.childKeys(value);
      for (let i = keys.length - 1; i >= 0; i--) {
        const child = Array.isArray(value) ? value[keys[i] as number] : (value as JsonObject)[keys[i] as string];
        stack.push([[...path, keys[i]], child]);
      }
    }
    return { query, matches, total, trimmed };
  }
}

function rootPreview(keys: number): string {
  return `{${grouped(keys)} key${keys === 1 ? '' : 's'}}`;
}

/** Python's sort order for str keys (by code point), which JavaScript's default sort (UTF-16) is not. */
function compareKeys(a: string, b: string): number {
  const left = Array.from(a);
  const right = Array.from(b);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const diff = left[i].codePointAt(0)! - right[i].codePointAt(0)!;
    if (diff) {
      return diff;
    }
  }
  return left.length - right.length;
}

/** The tree on the page: a search box and rows for the open part of the tree. */
export class CustomTreeView {
  readonly node: HTMLElement;
  private rowsNode: HTMLElement;
  private summary: HTMLElement;
  private input: HTMLInputElement;
  private opened = new Set<string>([pathId([])]);
  private shown = new Map<string, number>();
  private pinned = new Map<string, Set<Key>>();
  private openedBySearch = new Set<string>();
  private matches = new Set<string>();
  private timer = 0;

  constructor(readonly tree: CustomTree) {
    this.input = h('input', {
      type: 'search',
      class: 'jp-ShimTask-search',
      placeholder: 'search keys and values',
      'aria-label': 'search custom keys and values'
    });
    this.summary = h('span', { class: 'jp-ShimTask-searchSummary' });
    this.rowsNode = h('div', { class: 'jp-ShimTask-tree', role: 'tree' });
    this.node = h('div', { class: 'jp-ShimTask-custom' }, h('div', { class: 'jp-ShimTask-searchBar' }, this.input, this.summary), this.rowsNode);
    this.input.addEventListener('input', () => {
      window.clearTimeout(this.timer);
      this.timer = window.setTimeout(() => this.search(this.input.value), SEARCH_DELAY_MS);
    });
    this.input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        window.clearTimeout(this.timer);
        this.search(this.input.value);
      } else if (event.key === 'Escape') {
        // give the keyboard back to the notebook (command mode: Ctrl+S and the other shortcuts work)
        this.input.blur();
        (this.node.closest('.jp-Notebook') as HTMLElement | null)?.focus();
      }
    });
    this.rowsNode.addEventListener('click', event => this.onClick(event));
    this.render();
  }

  search(query: string): SearchResult {
    for (const id of this.openedBySearch) {
      this.opened.delete(id);
    }
    this.openedBySearch.clear();
    this.pinned.clear();
    const result = this.tree.search(query);
    this.matches = new Set(result.matches.map(pathId));
    for (const match of result.matches) {
      for (let depth = 0; depth < match.length; depth++) {
        const parent = pathId(match.slice(0, depth));
        if (!this.pinned.has(parent)) {
          this.pinned.set(parent, new Set());
        }
        this.pinned.get(parent)!.add(match[depth]);
        if (!this.opened.has(parent)) {
          this.opened.add(parent);
          this.openedBySearch.add(parent);
          this.shown.set(parent, 0);
        }
      }
    }
    this.summary.textContent = describeResult(result);
    this.render();
    const first = this.rowsNode.querySelector('.jp-ShimTask-match');
    if (first) {
      // scroll only the tree's own box: the match may sit far down an expanded list
      const box = this.rowsNode.getBoundingClientRect();
      const at = first.getBoundingClientRect();
      if (at.top < box.top || at.bottom > box.bottom) {
        this.rowsNode.scrollTop += at.top - box.top - box.height / 3;
      }
    }
    return result;
  }

  toggle(path: NodePath): void {
    const id = pathId(path);
    this.openedBySearch.delete(id);
    if (this.opened.has(id)) {
      this.opened.delete(id);
    } else {
      this.opened.add(id);
      this.shown.set(id, Math.max(this.shown.get(id) ?? 0, PAGE));
    }
    this.render();
  }

  showMore(path: NodePath): void {
    const id = pathId(path);
    this.openedBySearch.delete(id);
    this.shown.set(id, (this.shown.get(id) ?? PAGE) + PAGE);
    this.render();
  }

  private onClick(event: Event): void {
    const copy = (event.target as HTMLElement).closest('.jp-ShimTask-copyText') as HTMLElement | null;
    if (copy) {
      const text = String(this.tree.value(JSON.parse(copy.dataset.path!) as NodePath));
      void navigator.clipboard?.writeText(text).then(() => (copy.textContent = 'copied'));
      return;
    }
    const target = (event.target as HTMLElement).closest('[data-path]') as HTMLElement | null;
    if (!target) {
      return;
    }
    const path = JSON.parse(target.dataset.path!) as NodePath;
    if (target.classList.contains('jp-ShimTask-more')) {
      this.showMore(path);
    } else if (target.classList.contains('jp-ShimTask-expandable')) {
      this.toggle(path);
    }
  }

  private trimmedRowNode(row: TrimmedRow, id: string, depth: number): HTMLElement {
    return h(
      'div',
      {
        class: 'jp-ShimTask-row jp-ShimTask-trimmed' + (this.matches.has(id) ? ' jp-ShimTask-match' : ''),
        role: 'treeitem',
        'data-path': id,
        'data-kind': row.kind,
        'data-bytes': row.size,
        'data-trimmed': 'true',
        style: `padding-left: ${depth * 16}px`
      },
      h('span', { class: 'jp-ShimTask-caret' }, ''),
      h('span', { class: 'jp-ShimTask-key' }, row.key),
      h('span', { class: 'jp-ShimTask-preview' }, row.preview),
      h('span', { class: 'jp-ShimTask-trimmedMark' }, TRIMMED_MARK),
      h('span', { class: 'jp-ShimTask-size' }, `${grouped(row.size)} B`)
    );
  }

  private render(): void {
    const rows: HTMLElement[] = [];
    this.addRows([], this.tree.root, 0, rows);
    this.rowsNode.replaceChildren(...rows);
  }

  private addRows(path: NodePath, value: JsonValue, depth: number, rows: HTMLElement[]): void {
    const id = pathId(path);
    const last = path.length ? path[path.length - 1] : undefined;
    const label = last === undefined ? 'custom' : typeof last === 'number' ? `[${last}]` : last;
    const trimmed = this.tree.trimmedRow(path);
    if (trimmed) {
      rows.push(this.trimmedRowNode(trimmed, id, depth));
      return;
    }
    const keys = this.tree.childKeys(value);
    // a long string opens too: its whole text, readable and copyable, below the row
    const long = kindOf(value) === 'string' && JSON.stringify(value).length > PREVIEW_CHARS;
    const opens = keys.length > 0 || long;
    const isOpen = this.opened.has(id) && opens;
    const size = this.tree.size(path);
    const shownPreview = path.length ? preview(value) : rootPreview(keys.length);
    rows.push(
      h(
        'div',
        {
          class:
            'jp-ShimTask-row' +
            (opens ? ' jp-ShimTask-expandable' : '') +
            (this.matches.has(id) ? ' jp-ShimTask-match' : ''),
          role: 'treeitem',
          'aria-expanded': opens ? String(isOpen) : undefined,
          'data-path': id,
          'data-kind': kindOf(value),
          'data-bytes': size,
          title: long && !isOpen ? 'click to read the whole string' : undefined,
          style: `padding-left: ${depth * 16}px`
        },
        h('span', { class: 'jp-ShimTask-caret' }, opens ? (isOpen ? '▾' : '▸') : ''),
        h('span', { class: 'jp-ShimTask-key' }, label),
        h('span', { class: 'jp-ShimTask-preview' }, shownPreview),
        h('span', { class: 'jp-ShimTask-size' }, `${grouped(size)} B`)
      )
    );
    if (!isOpen) {
      return;
    }
    if (long) {
      rows.push(
        h(
          'div',
          { class: 'jp-ShimTask-fullText', 'data-full': id, style: `margin-left: ${(depth + 1) * 16}px` },
          h('button', { class: 'jp-ShimTask-copyText', 'data-path': id, title: 'copy the whole string' }, 'copy'),
          value as string
        )
      );
      return;
    }
    const first = Math.min(this.shown.get(id) ?? PAGE, keys.length);
    const visible = new Set<number>();
    for (let i = 0; i < first; i++) {
      visible.add(i);
    }
    for (const key of this.pinned.get(id) ?? []) {
      visible.add(typeof key === 'number' ? key : keys.indexOf(key));
    }
    const ordered = [...visible].sort((a, b) => a - b);
    for (const index of ordered) {
      const key = keys[index];
      const child = Array.isArray(value) ? value[key as number] : (value as JsonObject)[key as string];
      this.addRows([...path, key], child, depth + 1, rows);
    }
    if (!path.length && this.tree.trimmedCount) {
      rows.push(
        h(
          'div',
          { class: 'jp-ShimTask-trimmedNote', style: `padding-left: ${(depth + 1) * 16}px` },
          `${grouped(this.tree.trimmedCount)} key${this.tree.trimmedCount === 1 ? ' was' : 's were'} ${TRIMMED_MARK}: ` +
            'their sizes are exact, their values need the live inspector (run the cell)'
        )
      );
    }
    const hidden = keys.length - ordered.length;
    if (hidden > 0) {
      rows.push(
        h(
          'button',
          { class: 'jp-ShimTask-more', 'data-path': id, style: `margin-left: ${(depth + 1) * 16}px` },
          `show ${grouped(Math.min(PAGE, hidden))} more (${grouped(hidden)} not shown)`
        )
      );
    }
  }
}
