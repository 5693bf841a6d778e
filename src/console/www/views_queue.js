// views_queue.js — Toolbox → Queue Viewer: the tabs Queues (Get-Queue;
// Retry, Suspend, Resume, View Messages) and Messages (Get-Message;
// Suspend, Resume, Remove with or without a non-delivery report).
// Must never: act on a message or queue other than the selected one, or show those actions to a ViewOnlyAdmin.

import { el, clear } from './dom.js';
import { get } from './api.js';
import { listView } from './list_view.js';
import { runChange } from './actions.js';
import { confirmDialog, objectDialog } from './dialog.js';
import { dateText } from './views_common.js';

// The queue the Messages tab shows (null: all), set by "View Messages".
let queueFilter = null;

export function queuesView(ctx) {
  const reload = async () => { await view.load(); ctx.changed(); };
  const act = (name, q) => async () => { if (await runChange(name, { Identity: q.Identity })) reload(); };
  const view = listView({
    ctx,
    label: 'Queues',
    empty: 'There are no queues: is the postern service running?',
    fetch: () => get('Get-Queue'),
    key: (o) => o.Identity,
    name: (o) => o.Identity,
    rowClass: (o) => (o.Status === 'Suspended' ? 'row-suspended' : o.Status === 'Retry' ? 'row-retry' : ''),
    columns: [
      { label: 'Next Hop Domain', value: (o) => o.NextHopDomain },
      { label: 'Identity', value: (o) => o.Identity },
      { label: 'Delivery Type', value: (o) => o.DeliveryType },
      { label: 'Status', value: (o) => o.Status },
      { label: 'Message Count', value: (o) => o.MessageCount, sort: (o) => Number(o.MessageCount) || 0, cls: 'num' },
      { label: 'Next Retry Time', value: (o) => dateText(o.NextRetryTime), sort: (o) => o.NextRetryTime || '' },
      { label: 'Last Error', value: (o) => o.LastError },
    ],
    open: (o) => { queueFilter = o.Identity; ctx.openTab('queues', 'messages'); },
    rowActions: (q) => [
      { label: 'View Messages', icon: 'view', run: () => { queueFilter = q.Identity; ctx.openTab('queues', 'messages'); } },
      { label: 'Retry Queue', icon: 'retry', change: true, disabled: q.Status !== 'Retry', run: act('Retry-Queue', q) },
      q.Status === 'Suspended'
        ? { label: 'Resume', icon: 'enable', change: true, run: act('Resume-Queue', q) }
        : { label: 'Suspend', icon: 'disable', change: true, run: act('Suspend-Queue', q) },
    ],
  });
  return view;
}

export function messagesView(ctx) {
  const reload = async () => { await view.load(); ctx.changed(); };
  const act = (name, m, extra = {}) => async () => { if (await runChange(name, { Identity: m.Identity, ...extra })) reload(); };
  const remove = (m, withNdr) => async () => {
    const how = withNdr ? 'and send the sender a non-delivery report' : 'without a non-delivery report';
    if (!(await confirmDialog('postern', `Are you sure you want to remove the message '${m.Subject || m.Identity}' ${how}?`))) return;
    await act('Remove-Message', m, { WithNDR: withNdr })();
  };
  const filterBar = el('div', { class: 'filter-bar' });
  function showFilter() {
    clear(filterBar);
    if (!queueFilter) { filterBar.append(el('span', { class: 'muted' }, 'Messages of all queues')); return; }
    const all = el('button', { type: 'button', class: 'btn small' }, 'Show all queues');
    all.addEventListener('click', () => { queueFilter = null; reload(); });
    filterBar.append('Queue: ', el('strong', {}, queueFilter), ' ', all);
  }
  const view = listView({
    ctx,
    label: 'Messages',
    above: filterBar,
    empty: 'There are no messages in the queues.',
    fetch: () => { showFilter(); return get('Get-Message', queueFilter ? { Queue: queueFilter } : {}); },
    key: (o) => o.Identity,
    name: (o) => o.Subject || o.Identity,
    rowClass: (o) => (o.Status === 'Suspended' ? 'row-suspended' : ''),
    columns: [
      { label: 'From Address', value: (o) => o.FromAddress },
      { label: 'Status', value: (o) => o.Status },
      { label: 'Size', value: (o) => String(o.Size || '').replace(/\s*\([\d,]+ bytes\)$/, ''), sort: (o) => Number((/\(([\d,]+) bytes\)/.exec(o.Size || '') || [0, '0'])[1].replace(/,/g, '')) },
      { label: 'Subject', value: (o) => o.Subject },
      { label: 'Queue', value: (o) => o.Queue },
      { label: 'Recipients', value: (o) => o.Recipients },
      { label: 'Last Error', value: (o) => o.LastError },
      { label: 'Identity', value: (o) => o.Identity, cls: 'mono' },
    ],
    rowActions: (m) => [
      m.Status === 'Suspended'
        ? { label: 'Resume', icon: 'enable', change: true, run: act('Resume-Message', m) }
        : { label: 'Suspend', icon: 'disable', change: true, run: act('Suspend-Message', m) },
      { label: 'Remove (with NDR)', icon: 'remove', change: true, run: remove(m, true) },
      { label: 'Remove (without NDR)', icon: 'remove', change: true, run: remove(m, false) },
      { label: 'Properties', icon: 'properties', run: () => objectDialog(`${m.Subject || m.Identity} Properties`, m) },
    ],
    open: (m) => objectDialog(`${m.Subject || m.Identity} Properties`, m),
  });
  return view;
}
