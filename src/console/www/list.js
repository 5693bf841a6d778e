// list.js — the result pane's list: columns, one selected row (blue, as
// EMC), double-click or Enter opens, a click on a header sorts.
// Must never: put a value into the page other than as text (or a node a view built with dom.js).

import { el, clear } from './dom.js';

// A value as EMC shows it: arrays joined by ", ", null as empty.
export function show(v) {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(show).join(', ');
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// makeList({columns: [{label, value(o) -> string|Node, sort(o)?, cls?}],
//   key(o), rowClass(o)?, onSelect(o|null), onOpen(o), empty, label})
export function makeList({ columns, key, rowClass, onSelect, onOpen, empty = 'There are no items to show in this view.', label = 'list' }) {
  let rows = [];
  let selectedKey = null;
  let sortCol = -1;
  let sortDir = 1;
  const thead = el('thead');
  const tbody = el('tbody');
  const table = el('table', { class: 'list', 'aria-label': label }, thead, tbody);
  const wrap = el('div', { class: 'list-wrap', tabindex: '0' }, table);

  function headers() {
    clear(thead);
    const tr = el('tr');
    columns.forEach((c, i) => {
      const th = el('th', { scope: 'col', class: c.cls || '' }, c.label,
        i === sortCol ? el('span', { class: 'sort', 'aria-hidden': 'true' }, sortDir > 0 ? ' ▲' : ' ▼') : null);
      th.addEventListener('click', () => {
        if (sortCol === i) sortDir = -sortDir; else { sortCol = i; sortDir = 1; }
        headers();
        body();
      });
      tr.append(th);
    });
    thead.append(tr);
  }

  function sortValue(c, o) {
    if (c.sort) return c.sort(o);
    const v = c.value(o);
    return v instanceof Node ? v.textContent : show(v);
  }

  function ordered() {
    if (sortCol < 0) return rows;
    const c = columns[sortCol];
    return [...rows].sort((a, b) => {
      const x = sortValue(c, a);
      const y = sortValue(c, b);
      if (typeof x === 'number' && typeof y === 'number') return (x - y) * sortDir;
      return String(x).localeCompare(String(y), undefined, { numeric: true }) * sortDir;
    });
  }

  function body() {
    clear(tbody);
    if (!rows.length) {
      tbody.append(el('tr', { class: 'empty' }, el('td', { colspan: String(columns.length) }, empty)));
      return;
    }
    for (const o of ordered()) {
      const k = key(o);
      const tr = el('tr', { class: [k === selectedKey ? 'selected' : '', rowClass ? rowClass(o) : ''].join(' ').trim(), 'aria-selected': k === selectedKey ? 'true' : 'false' });
      tr.dataset.key = k;
      for (const c of columns) {
        const v = c.value(o);
        const td = el('td', { class: c.cls || '' }, v instanceof Node ? v : show(v));
        if (!(v instanceof Node)) td.title = show(v);
        tr.append(td);
      }
      tr.addEventListener('click', () => select(k));
      tr.addEventListener('dblclick', () => { select(k); if (onOpen) onOpen(o); });
      tr.addEventListener('contextmenu', () => select(k));
      tbody.append(tr);
    }
  }

  function select(k) {
    selectedKey = k;
    for (const tr of tbody.querySelectorAll('tr')) {
      const on = tr.dataset.key === k;
      tr.classList.toggle('selected', on);
      tr.setAttribute('aria-selected', on ? 'true' : 'false');
    }
    if (onSelect) onSelect(selected());
  }

  function selected() {
    return rows.find((o) => key(o) === selectedKey) || null;
  }

  wrap.addEventListener('keydown', (ev) => {
    const list = ordered();
    if (!list.length) return;
    let i = list.findIndex((o) => key(o) === selectedKey);
    if (ev.key === 'ArrowDown') i = Math.min(list.length - 1, i + 1);
    else if (ev.key === 'ArrowUp') i = Math.max(0, i - 1);
    else if (ev.key === 'Enter' && i >= 0) { if (onOpen) onOpen(list[i]); return; }
    else return;
    ev.preventDefault();
    select(key(list[i]));
  });

  headers();
  body();
  return {
    node: wrap,
    setRows(list) {
      rows = list || [];
      if (selectedKey !== null && !rows.some((o) => key(o) === selectedKey)) selectedKey = null;
      body();
      if (onSelect) onSelect(selected());
    },
    rows: () => rows,
    selected,
    select,
  };
}
