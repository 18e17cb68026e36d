/**
 * The template view drawn from the payload alone (no kernel needed): header, then tabs for the
 * interface, the `custom` tree with search, the container and the size bars with the limit badge.
 */
import { h, grouped } from './dom';
import { JsonObject, JsonValue, customKeySize } from './protobufSize';
import { KNOWN_VERSION, TemplatePayload, Variable } from './payload';
import { CustomTree, CustomTreeView, TRIMMED_MARK } from './tree';

const BAR_ROWS = 25;
const BAR_PX = 160;
const METER_PX = 240;
const PLACEHOLDER = /\{\{\s*\.[A-Za-z0-9_]+\s*\}\}/g;

function code(text: unknown): HTMLElement {
  return h('code', {}, String(text));
}

function table(rows: [string, Node | string][], className = ''): HTMLTableElement {
  return h('table', { class: className }, ...rows.map(([name, value]) => h('tr', {}, h('th', {}, name), h('td', {}, value))));
}

function titleOf(payload: TemplatePayload): string {
  const name = payload.id.name || '(unnamed task)';
  return payload.id.version ? `${name} (${payload.id.version})` : name;
}

export function limitText(payload: TemplatePayload): string {
  return `warn above ${grouped(payload.size.warn_bytes)}, over above ${grouped(payload.size.over_bytes)}`;
}

function badge(payload: TemplatePayload): HTMLElement {
  const status = payload.size.status;
  return h('span', { class: `jp-ShimTask-badge jp-ShimTask-badge-${status}`, title: limitText(payload) }, status);
}

function header(payload: TemplatePayload): HTMLElement {
  const size = h(
    'span',
    {},
    h('span', { class: 'jp-ShimTask-total', 'data-bytes': payload.size.total }, `${grouped(payload.size.total)} bytes`),
    ' ',
    badge(payload),
    ' ',
    h('small', {}, `(${limitText(payload)})`)
  );
  const rows: [string, Node | string][] = [
    ['task', code(titleOf(payload))],
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

/** Inputs and outputs; from `payload.interface`, or read from the template JSON when absent. */
function variables(payload: TemplatePayload, side: 'inputs' | 'outputs'): Variable[] {
  if (payload.interface) {
    return payload.interface[side];
  }
  const iface = (payload.template.interface ?? {}) as JsonObject;
  const vars = (((iface[side] ?? {}) as JsonObject).variables ?? {}) as JsonObject;
  return Object.keys(vars)
    .sort()
    .map(name => {
      const variable = vars[name] as JsonObject;
      return { name, type: JSON.stringify(variable.type ?? {}), description: String(variable.description ?? '') };
    });
}

function interfacePane(payload: TemplatePayload): HTMLElement {
  const parts: HTMLElement[] = [];
  for (const side of ['inputs', 'outputs'] as const) {
    const list = variables(payload, side);
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

function markPlaceholders(argument: string): HTMLElement {
  const node = h('code', {});
  let last = 0;
  for (const match of argument.matchAll(PLACEHOLDER)) {
    node.append(argument.slice(last, match.index), h('mark', {}, match[0]));
    last = match.index! + match[0].length;
  }
  node.append(argument.slice(last));
  return node;
}

function joined(nodes: Node[], separator: () => Node | string): HTMLElement {
  const span = h('span', {});
  nodes.forEach((node, index) => {
    if (index) {
      span.append(separator());
    }
    span.append(node);
  });
  return span;
}

function containerPane(payload: TemplatePayload): HTMLElement {
  const template = payload.template;
  const container = (template.container ?? {}) as JsonObject;
  const parts: HTMLElement[] = [];
  if (Object.keys(container).length) {
    const rows: [string, Node | string][] = [['image', code(container.image ?? '-')]];
    const command = (container.command ?? []) as string[];
    if (command.length) {
      rows.push(['command', joined(command.map(code), () => ' ')]);
    }
    const args = (container.args ?? []) as string[];
    rows.push(['args', args.length ? joined(args.map(markPlaceholders), () => ' ') : '-']);
    const env = (container.env ?? []) as JsonObject[];
    rows.push(['env', env.length ? joined(env.map(kv => code(`${kv.key ?? ''}=${kv.value ?? ''}`)), () => h('br')) : '-']);
    const resources = (container.resources ?? {}) as JsonObject;
    for (const side of ['requests', 'limits']) {
      const entries = (resources[side] ?? []) as JsonObject[];
      if (entries.length) {
        rows.push([side, entries.map(e => `${String(e.name ?? '?').toLowerCase()}=${e.value ?? ''}`).join(', ')]);
      }
    }
    parts.push(h('p', {}, h('b', {}, 'container')), table(rows));
  } else {
    parts.push(h('p', {}, h('b', {}, 'container'), ': none (this template runs no container of its own)'));
  }
  const metadata = (template.metadata ?? {}) as JsonObject;
  const runtime = (metadata.runtime ?? {}) as JsonObject;
  const retries = ((metadata.retries ?? {}) as JsonObject).retries ?? 0;
  const cache = metadata.discoverable ? `on, version '${metadata.discoveryVersion ?? ''}'` : 'off';
  const metaRows: [string, Node | string][] = [
    ['retries', code(retries)],
    ['timeout', code(metadata.timeout ?? 'none')],
    ['cache', code(cache)],
    ['interruptible', code(metadata.interruptible ? 'True' : 'False')]
  ];
  if (Object.keys(runtime).length) {
    metaRows.push(['runtime', code(`${runtime.flavor ?? ''} ${runtime.version ?? ''}`.trim())]);
  }
  parts.push(h('p', {}, h('b', {}, 'metadata')), table(metaRows));
  const config = (template.config ?? {}) as JsonObject;
  if (Object.keys(config).length) {
    parts.push(
      h('p', {}, h('b', {}, 'config')),
      table(Object.keys(config).sort().map(key => [key, code(config[key])] as [string, Node]))
    );
  }
  return h('div', {}, ...parts);
}

/**
 * One bar per part, biggest first. `trimmed` names parts the saved copy left out (marked, with
 * their exact size); `beyond` counts parts and bytes the payload does not list one by one.
 */
function bars(
  sizes: [string, number][],
  title: string,
  className: string,
  trimmed: Set<string> = new Set(),
  beyond: [number, number] = [0, 0]
): HTMLElement | null {
  const ordered = [...sizes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (!ordered.length) {
    return null;
  }
  const largest = Math.max(ordered[0][1], 1);
  const rows = ordered.slice(0, BAR_ROWS).map(([name, size]) =>
    h(
      'tr',
      { 'data-name': name, 'data-trimmed': trimmed.has(name) ? 'true' : undefined },
      h('td', {}, code(name), trimmed.has(name) ? h('span', { class: 'jp-ShimTask-trimmedMark' }, TRIMMED_MARK) : null),
      h('td', { class: 'jp-ShimTask-bytes', 'data-bytes': size }, grouped(size)),
      h('td', {}, h('span', { class: 'jp-ShimTask-bar', style: `width: ${Math.max(1, Math.round((BAR_PX * size) / largest))}px` }))
    )
  );
  const rest = ordered.slice(BAR_ROWS);
  const restCount = rest.length + beyond[0];
  if (restCount) {
    const restBytes = rest.reduce((sum, [, s]) => sum + s, 0) + beyond[1];
    rows.push(h('tr', {}, h('td', {}, `${grouped(restCount)} more`), h('td', { class: 'jp-ShimTask-bytes' }, grouped(restBytes))));
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
      { class: 'jp-ShimTask-meter', style: `width: ${METER_PX}px`, title: limitText(payload) },
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

/**
 * Bytes per custom key: the payload's figures, from protobuf in Python (trimmed keys included).
 * Only a payload that lacks them has them computed here, the same way.
 */
function customSizes(payload: TemplatePayload): [string, number][] {
  const given = payload.size.custom;
  if (given && Object.keys(given).length) {
    return Object.entries(given);
  }
  const custom = payload.template.custom ?? {};
  return Object.keys(custom).map(key => [key, customKeySize(key, custom[key] as JsonValue)]);
}

/** Keys the saved copy left out of `template.custom`. */
function trimmedKeys(payload: TemplatePayload): Set<string> {
  const custom = payload.template.custom ?? {};
  return new Set(Object.keys(payload.size.custom ?? {}).filter(key => !(key in custom)));
}

/** Custom keys (and their bytes) that the payload's size figures do not list one by one. */
function beyondListed(payload: TemplatePayload): [number, number] {
  const trimmed = payload.trimmed ?? {};
  const listed = Object.keys(payload.size.custom ?? {}).length;
  return [Math.max(0, (trimmed.custom_keys ?? listed) - listed), trimmed.size_custom_bytes_left_out ?? 0];
}

function sizePane(payload: TemplatePayload): HTMLElement {
  const left = h(
    'div',
    {},
    meter(payload),
    bars(Object.entries(payload.size.fields), 'bytes per field', 'jp-ShimTask-fieldBars'),
    bars(customSizes(payload), 'bytes per custom key', 'jp-ShimTask-customBars', trimmedKeys(payload), beyondListed(payload)) ??
      h('p', {}, 'no ', code('custom'), ' payload')
  );
  return h('div', { class: 'jp-ShimTask-sizePane' }, left, findings(payload));
}

/** The whole view; `tab` chooses the pane shown first (default: Custom when there is one). */
export function templateView(payload: TemplatePayload, tab?: string): HTMLElement {
  const custom = payload.template.custom ?? {};
  const trimmedRows = payload.trimmed?.custom_rows ?? [];
  const hasCustom = Object.keys(custom).length > 0 || trimmedRows.length > 0;
  const panes: [string, () => HTMLElement][] = [
    ['Interface', () => interfacePane(payload)],
    [
      'Custom',
      () =>
        hasCustom
          ? new CustomTreeView(new CustomTree(custom, trimmedRows, payload.trimmed?.custom_bytes)).node
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
