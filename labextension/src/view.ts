/**
 * The template view drawn from the payload alone (no kernel needed): header, then tabs for the
 * interface, the `custom` tree with search, the container (and the pod around it) and the size bars
 * with the limit badge. Every figure and row is the payload's: this file only draws them.
 */
import { h, grouped } from './dom';
import { Bars, KNOWN_VERSION, Row, Section, TemplatePayload } from './payload';
import { CustomTreeView, TRIMMED_MARK, readTree } from './tree';

const BAR_PX = 160;
const METER_PX = 240;

function code(text: unknown): HTMLElement {
  return h('code', {}, String(text));
}

function table(rows: [string, Node | string][], className = ''): HTMLTableElement {
  return h('table', { class: className }, ...rows.map(([name, value]) => h('tr', {}, h('th', {}, name), h('td', {}, value))));
}

function badge(payload: TemplatePayload): HTMLElement {
  const status = payload.size.status;
  return h('span', { class: `jp-ShimTask-badge jp-ShimTask-badge-${status}`, title: payload.size.limits }, status);
}

function header(payload: TemplatePayload): HTMLElement {
  const size = h(
    'span',
    {},
    h('span', { class: 'jp-ShimTask-total', 'data-bytes': payload.size.total }, `${grouped(payload.size.total)} bytes`),
    ' ',
    badge(payload),
    ' ',
    h('small', {}, `(${payload.size.limits})`)
  );
  const rows: [string, Node | string][] = [
    ['task', code(payload.title)],
    ['type', code(payload.type || '-')],
    ['image', code(payload.image || '-')],
    ['executor', code(payload.executor || '-')],
    ['size', size]
  ];
  if (payload.version > KNOWN_VERSION) {
    rows.push(['note', `written by a newer jupyter-shimtask (payload version ${payload.version}); some parts may be missing`]);
  }
  return h('div', { class: 'jp-ShimTask-header' }, table(rows));
}

function interfacePane(payload: TemplatePayload): HTMLElement {
  const parts: HTMLElement[] = [];
  for (const side of ['inputs', 'outputs'] as const) {
    const list = payload.interface[side];
    if (!list.length) {
      parts.push(h('p', {}, h('b', {}, side), ': none'));
      continue;
    }
    parts.push(
      h('p', {}, h('b', {}, side)),
      h(
        'table',
        { class: `jp-ShimTask-${side}` },
        h('tr', {}, h('th', {}, 'name'), h('th', {}, 'type'), h('th', {}, 'description')),
        ...list.map(v => h('tr', {}, h('td', {}, code(v.name)), h('td', {}, code(v.type)), h('td', {}, v.description)))
      )
    );
  }
  return h('div', {}, ...parts);
}

/** A code item's pieces: plain, `{{.placeholder}}` (marked), plain, ... */
function codeItem(pieces: string[]): HTMLElement {
  return h('code', {}, ...pieces.map((piece, index) => (index % 2 ? h('mark', {}, piece) : piece)));
}

function cell(row: Row): Node | string {
  if (row.code === undefined) {
    return row.text ?? '';
  }
  const span = h('span', {});
  row.code.forEach((pieces, index) => {
    if (index) {
      span.append(row.sep === '\n' ? h('br') : (row.sep ?? ' '));
    }
    span.append(codeItem(pieces));
  });
  return span;
}

function section(part: Section): HTMLElement[] {
  if (part.rows === undefined) {
    return [h('p', {}, h('b', {}, part.title), `: ${part.note ?? ''}`)];
  }
  return [h('p', {}, h('b', {}, part.title)), table(part.rows.map(row => [row.name, cell(row)]))];
}

/** Container, metadata, config, security context and the pod around the container: Python's rows. */
function containerPane(payload: TemplatePayload): HTMLElement {
  return h('div', {}, ...payload.container.flatMap(section));
}

/** The payload's bars, biggest first; parts trimmed from the saved copy are marked. */
function bars(given: Bars, title: string, className: string): HTMLElement | null {
  if (!given.rows.length) {
    return null;
  }
  const largest = Math.max(given.rows[0][1], 1);
  const rows = given.rows.map(([name, size, trimmed]) =>
    h(
      'tr',
      { 'data-name': name, 'data-trimmed': trimmed ? 'true' : undefined },
      h('td', {}, code(name), trimmed ? h('span', { class: 'jp-ShimTask-trimmedMark' }, TRIMMED_MARK) : null),
      h('td', { class: 'jp-ShimTask-bytes', 'data-bytes': size }, grouped(size)),
      h('td', {}, h('span', { class: 'jp-ShimTask-bar', style: `width: ${Math.max(1, Math.round((BAR_PX * size) / largest))}px` }))
    )
  );
  if (given.more) {
    const [count, bytes] = given.more;
    rows.push(h('tr', {}, h('td', {}, `${grouped(count)} more`), h('td', { class: 'jp-ShimTask-bytes' }, grouped(bytes))));
  }
  return h('div', { class: className }, h('p', {}, h('b', {}, title)), h('table', {}, ...rows));
}

/** The total against the platform's limits: a track up to the "over" limit with the "warn" mark on it. */
function meter(payload: TemplatePayload): HTMLElement {
  const { total, warn_bytes: warn, over_bytes: over, status } = payload.size;
  const scale = Math.max(over, total, 1);
  const px = (bytes: number) => Math.round((METER_PX * bytes) / scale);
  return h(
    'div',
    { class: 'jp-ShimTask-meterBlock' },
    h('p', {}, h('b', {}, 'template size'), ' ', badge(payload)),
    h(
      'div',
      { class: 'jp-ShimTask-meter', style: `width: ${METER_PX}px`, title: payload.size.limits },
      h('span', { class: `jp-ShimTask-meterFill jp-ShimTask-meterFill-${status}`, style: `width: ${Math.max(1, px(total))}px` }),
      h('span', { class: 'jp-ShimTask-meterMark', style: `left: ${px(warn)}px`, title: `warn above ${grouped(warn)}` }),
      h('span', { class: 'jp-ShimTask-meterMark', style: `left: ${px(over)}px`, title: `over above ${grouped(over)}` })
    ),
    h('small', {}, `${grouped(total)} of ${grouped(over)} bytes (${((100 * total) / Math.max(over, 1)).toFixed(1)}%)`)
  );
}

function findings(payload: TemplatePayload): HTMLElement {
  if (!payload.findings.length) {
    return h('div', {}, h('p', {}, h('b', {}, 'findings')), h('p', {}, 'none: ', code('check'), ' found nothing lost on the way'));
  }
  return h(
    'div',
    {},
    h('p', {}, h('b', {}, 'findings')),
    h(
      'ul',
      { class: 'jp-ShimTask-findings' },
      ...payload.findings.map(f =>
        h('li', { class: `jp-ShimTask-finding-${f.severity}` }, h('b', {}, f.code), f.path ? ' ' : '', f.path ? code(f.path) : '', `: ${f.message}`)
      )
    )
  );
}

function sizePane(payload: TemplatePayload): HTMLElement {
  const left = h(
    'div',
    {},
    meter(payload),
    bars(payload.bars.fields, 'bytes per field', 'jp-ShimTask-fieldBars'),
    bars(payload.bars.custom, 'bytes per custom key', 'jp-ShimTask-customBars') ??
      h('p', {}, 'no ', code('custom'), ' payload')
  );
  return h('div', { class: 'jp-ShimTask-sizePane' }, left, findings(payload));
}

/** The whole view; `tab` chooses the pane shown first (default: Custom when there is one). */
export function templateView(payload: TemplatePayload, tab?: string): HTMLElement {
  const tree = readTree(payload.tree);
  const hasCustom = tree.children.length > 0;
  const panes: [string, () => HTMLElement][] = [
    ['Interface', () => interfacePane(payload)],
    [
      'Custom',
      () =>
        hasCustom
          ? new CustomTreeView(tree, payload.template.custom ?? {}, payload.trimmed?.custom_rows?.length ?? 0).node
          : h('p', {}, 'no ', code('custom'), ' payload: the executor gets an empty ', code('tt.custom'))
    ],
    ['Container', () => containerPane(payload)],
    ['Size', () => sizePane(payload)]
  ];
  const bar = h('div', { class: 'jp-ShimTask-tabs', role: 'tablist' });
  const body = h('div', { class: 'jp-ShimTask-pane', role: 'tabpanel' });
  const built = new Map<string, HTMLElement>();
  const select = (name: string) => {
    if (!built.has(name)) {
      built.set(name, panes.find(([n]) => n === name)![1]());
    }
    body.replaceChildren(built.get(name)!);
    for (const button of Array.from(bar.children)) {
      button.setAttribute('aria-selected', String(button.textContent === name));
    }
  };
  for (const [name] of panes) {
    const button = h('button', { class: 'jp-ShimTask-tab', role: 'tab', 'data-tab': name }, name);
    button.addEventListener('click', () => select(name));
    bar.append(button);
  }
  select(tab ?? (hasCustom ? 'Custom' : 'Interface'));
  return h('div', { class: 'jp-ShimTask-view', 'data-task': payload.id.name }, header(payload), bar, body);
}
