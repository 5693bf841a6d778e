// list_view.js — a tab that is one list: loads rows with a Get- cmdlet,
// shows them, names the node's and the selected row's actions.
// Views give columns and actions; this file does the loading, the error
// banner (the cmdlet's own words) and the "N objects" count.
// Must never: show a load error as HTML, or hide a failed load as an empty list.

import { el, clear } from './dom.js';
import { makeList } from './list.js';
import { reportSignedOut } from './errors.js';

// listView({ctx, fetch: async () => rows, columns, key, name(o),
//   actions() -> [...], rowActions(o) -> [...], open(o), above?: Node,
//   after(rows)?, empty?, label?})
export function listView(opts) {
  const { ctx, columns, key, rowClass, name, actions = () => [], rowActions = () => [], open, above, after, empty, label } = opts;
  const errorBox = el('div', { class: 'pane-error', role: 'alert' });
  errorBox.hidden = true;
  const list = makeList({
    columns, key, rowClass, empty, label,
    onSelect: () => ctx.changed(),
    onOpen: open ? (o) => open(o) : undefined,
  });
  const node = el('div', { class: 'list-view' }, above || null, errorBox, list.node);
  let loaded = false;
  const view = {
    node,
    list,
    async load() {
      try {
        const rows = await opts.fetch();
        clear(errorBox);
        errorBox.hidden = true;
        list.setRows(rows);
        loaded = true;
        if (after) after(rows);
      } catch (e) {
        if (reportSignedOut(e)) return;
        clear(errorBox);
        errorBox.append(e.message);
        errorBox.hidden = false;
        list.setRows([]);
        loaded = false;
      }
    },
    actions,
    selection() {
      const o = list.selected();
      return o ? { title: name(o), actions: rowActions(o) } : null;
    },
    status() {
      if (!loaded) return '';
      const n = list.rows().length;
      return `${n} object${n === 1 ? '' : 's'}`;
    },
  };
  return view;
}
