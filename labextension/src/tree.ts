/**
 * The `custom` tree on the page, drawn from the payload's tree (Python's order, bytes and previews).
 *
 * It behaves as the inspector widget does: a search matches keys and scalar values ignoring case
 * and opens the branches to its first matches, and a node shows a page of children at a time.
 */
import { h, grouped } from './dom';
import { JsonObject, JsonValue, KINDS, Key, Kind, NodePath, TreeColumns } from './payload';

export const PAGE = 100;
export const MATCH_LIMIT = 200;
export const TRIMMED_MARK = 'trimmed from the saved copy';
const SEARCH_DELAY_MS = 250;

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

/** One node of the tree, as the payload's columns give it. */
export interface TreeNode {
  label: string;
  kind: Kind;
  bytes: number;
  preview: string;
  children: TreeNode[];
  /** a string whose preview is cut: it opens to its whole text */
  long: boolean;
  /** a key left out of the saved copy: only its figures are in the notebook */
  trimmed: boolean;
}

/** The payload's columns as nodes with their children. */
export function readTree(columns: TreeColumns): TreeNode {
  const long = new Set(columns.long);
  const trimmed = new Set(columns.trimmed);
  let next = 0;
  const read = (): TreeNode => {
    const at = next++;
    const node: TreeNode = {
      label: columns.labels[at],
      kind: KINDS[columns.kinds[at]],
      bytes: columns.bytes[at],
      preview: columns.previews[at],
      children: [],
      long: long.has(at),
      trimmed: trimmed.has(at)
    };
    for (let i = 0; i < columns.children[at]; i++) {
      node.children.push(read());
    }
    return node;
  };
  return read();
}

/** The key under which `child` (the `index`th child of `parent`) sits: an index in an array. */
function childKey(parent: TreeNode, child: TreeNode, index: number): Key {
  return parent.kind === 'array' ? index : child.label;
}

/** The value under `key` in `template.custom` (none for a key trimmed from the saved copy). */
function childValue(value: JsonValue | undefined, key: Key): JsonValue | undefined {
  return value !== null && typeof value === 'object' ? (value as Record<Key, JsonValue>)[key] : undefined;
}

/** A node being drawn: the node, its path and its value. */
type Place = [node: TreeNode, path: NodePath, value: JsonValue | undefined];

/** A node met by a search: its key and index under its parent, and the parent's step. */
interface Step {
  node: TreeNode;
  value: JsonValue | undefined;
  key: Key | undefined;
  index: number;
  up: Step | null;
}

/** A search step's path and its index under each of its parents. */
function placeOf(step: Step): [NodePath, number[]] {
  const path: NodePath = [];
  const trail: number[] = [];
  for (let at: Step | null = step; at?.up; at = at.up) {
    path.unshift(at.key!);
    trail.unshift(at.index);
  }
  return [path, trail];
}

/** The tree on the page: a search box and rows for the open part of the tree. */
export class CustomTreeView {
  readonly node: HTMLElement;
  private rowsNode: HTMLElement;
  private summary: HTMLElement;
  private input: HTMLInputElement;
  private opened = new Set<string>([pathId([])]);
  private shown = new Map<string, number>();
  /** children a search pinned open (by index) under each node, so its matches are on screen */
  private pinned = new Map<string, Set<number>>();
  private openedBySearch = new Set<string>();
  private matches = new Set<string>();
  private timer = 0;

  /** `custom` is `template.custom` (the values); `trimmedCount`, the keys trimmed from the saved copy. */
  constructor(
    readonly root: TreeNode,
    readonly custom: JsonObject,
    readonly trimmedCount: number
  ) {
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

  /** Nodes whose key or scalar value holds `query` (ignoring case), in tree order: their branches open. */
  search(query: string): SearchResult {
    for (const id of this.openedBySearch) {
      this.opened.delete(id);
    }
    this.openedBySearch.clear();
    this.pinned.clear();
    const [result, trails] = this.find(query);
    this.matches = new Set(result.matches.map(pathId));
    result.matches.forEach((match, at) => {
      for (let depth = 0; depth < match.length; depth++) {
        const parent = pathId(match.slice(0, depth));
        if (!this.pinned.has(parent)) {
          this.pinned.set(parent, new Set());
        }
        this.pinned.get(parent)!.add(trails[at][depth]);
        if (!this.opened.has(parent)) {
          this.opened.add(parent);
          this.openedBySearch.add(parent);
          this.shown.set(parent, 0);
        }
      }
    });
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

  /** The matches (the first `MATCH_LIMIT`) and, for each, its index under each of its parents. */
  private find(query: string): [SearchResult, number[][]] {
    const needle = query.trim().toLowerCase();
    const matches: NodePath[] = [];
    const trails: number[][] = [];
    let total = 0;
    let trimmed = 0;
    if (!needle) {
      return [{ query, matches, total }, trails];
    }
    const stack: Step[] = [{ node: this.root, value: this.custom, key: undefined, index: 0, up: null }];
    while (stack.length) {
      const step = stack.pop()!;
      const { node, value, key } = step;
      const keyHit = typeof key === 'string' && key.toLowerCase().includes(needle);
      const { kind, preview } = node;
      // a scalar's text is its preview, a string's is its value; a trimmed key has only its key
      const scalar = kind !== 'object' && kind !== 'array' && !node.trimmed;
      const text = kind === 'string' && typeof value === 'string' ? value : preview;
      if (keyHit || (scalar && text.toLowerCase().includes(needle))) {
        total += 1;
        trimmed += node.trimmed ? 1 : 0;
        if (matches.length < MATCH_LIMIT) {
          const [path, trail] = placeOf(step);
          matches.push(path);
          trails.push(trail);
        }
      }
      const kids = node.children;
      for (let i = kids.length - 1; i >= 0; i--) {
        const childKeyed = childKey(node, kids[i], i);
        stack.push({ node: kids[i], value: childValue(value, childKeyed), key: childKeyed, index: i, up: step });
      }
    }
    return [{ query, matches, total, trimmed }, trails];
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

  private valueAt(path: NodePath): JsonValue | undefined {
    return path.reduce<JsonValue | undefined>(childValue, this.custom);
  }

  private onClick(event: Event): void {
    const copy = (event.target as HTMLElement).closest('.jp-ShimTask-copyText') as HTMLElement | null;
    if (copy) {
      const text = String(this.valueAt(JSON.parse(copy.dataset.path!) as NodePath));
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

  private trimmedRowNode(node: TreeNode, id: string, depth: number): HTMLElement {
    const { label, kind, bytes, preview } = node;
    return h(
      'div',
      {
        class: 'jp-ShimTask-row jp-ShimTask-trimmed' + (this.matches.has(id) ? ' jp-ShimTask-match' : ''),
        role: 'treeitem',
        'data-path': id,
        'data-kind': kind,
        'data-bytes': bytes,
        'data-trimmed': 'true',
        style: `padding-left: ${depth * 16}px`
      },
      h('span', { class: 'jp-ShimTask-caret' }, ''),
      h('span', { class: 'jp-ShimTask-key' }, label),
      h('span', { class: 'jp-ShimTask-preview' }, preview),
      h('span', { class: 'jp-ShimTask-trimmedMark' }, TRIMMED_MARK),
      h('span', { class: 'jp-ShimTask-size' }, `${grouped(bytes)} B`)
    );
  }

  private render(): void {
    const rows: HTMLElement[] = [];
    this.addRows([this.root, [], this.custom], 0, rows);
    this.rowsNode.replaceChildren(...rows);
  }

  private addRows([node, path, value]: Place, depth: number, rows: HTMLElement[]): void {
    const id = pathId(path);
    const { label, kind, bytes, preview, long } = node;
    if (node.trimmed) {
      rows.push(this.trimmedRowNode(node, id, depth));
      return;
    }
    const kids = node.children;
    // a long string opens too: its whole text, readable and copyable, below the row
    const opens = kids.length > 0 || long;
    const isOpen = this.opened.has(id) && opens;
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
          'data-kind': kind,
          'data-bytes': bytes,
          title: long && !isOpen ? 'click to read the whole string' : undefined,
          style: `padding-left: ${depth * 16}px`
        },
        h('span', { class: 'jp-ShimTask-caret' }, opens ? (isOpen ? '▾' : '▸') : ''),
        h('span', { class: 'jp-ShimTask-key' }, label),
        h('span', { class: 'jp-ShimTask-preview' }, preview),
        h('span', { class: 'jp-ShimTask-size' }, `${grouped(bytes)} B`)
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
          String(value ?? '')
        )
      );
      return;
    }
    const first = Math.min(this.shown.get(id) ?? PAGE, kids.length);
    const visible = new Set<number>(this.pinned.get(id));
    for (let i = 0; i < first; i++) {
      visible.add(i);
    }
    const ordered = [...visible].sort((a, b) => a - b);
    for (const index of ordered) {
      const key = childKey(node, kids[index], index);
      this.addRows([kids[index], [...path, key], childValue(value, key)], depth + 1, rows);
    }
    if (!path.length && this.trimmedCount) {
      rows.push(
        h(
          'div',
          { class: 'jp-ShimTask-trimmedNote', style: `padding-left: ${(depth + 1) * 16}px` },
          `${grouped(this.trimmedCount)} key${this.trimmedCount === 1 ? ' was' : 's were'} ${TRIMMED_MARK}: ` +
            'their sizes are exact, their values need the live inspector (run the cell)'
        )
      );
    }
    const hidden = kids.length - ordered.length;
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
