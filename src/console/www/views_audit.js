// views_audit.js — the Audit Log: every change made through the console
// (GET /api/audit, newest first): time, user, client, result, command.
// Must never: offer an action that changes the log.

import { audit } from './api.js';
import { el } from './dom.js';
import { listView } from './list_view.js';
import { dateText } from './views_common.js';

export function auditView(ctx) {
  return listView({
    ctx,
    label: 'Audit Log',
    empty: 'No change has been made through the console yet.',
    fetch: async () => (await audit()).map((e, i) => ({ ...e, key: `${i}` })),
    key: (o) => o.key,
    name: (o) => o.command,
    rowClass: (o) => (o.ok ? '' : 'row-failed'),
    columns: [
      { label: 'Time', value: (o) => dateText(o.time), sort: (o) => o.time || '' },
      { label: 'User', value: (o) => o.user },
      { label: 'Client', value: (o) => o.client },
      { label: 'Result', value: (o) => el('span', { class: o.ok ? 'status status-on' : 'status status-failed' }, o.ok ? 'Succeeded' : 'Failed'), sort: (o) => (o.ok ? 0 : 1) },
      { label: 'Command', value: (o) => el('code', { class: 'command-cell', title: o.command }, o.command), sort: (o) => o.command || '' },
    ],
  });
}
