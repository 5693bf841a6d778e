// views_tracking.js — Toolbox → Message Tracking: a search form for
// Get-MessageTrackingLog (-Sender, -Recipients, -MessageId, -Start, -End,
// -EventId, -ResultSize) and its results; a double-click shows one event.
// Must never: change anything (read-only Get- cmdlet only).

import { el, clear } from './dom.js';
import { get } from './api.js';
import { makeList } from './list.js';
import { field, objectDialog } from './dialog.js';
import { reportSignedOut } from './errors.js';
import { dateText } from './views_common.js';

const EVENTS = ['', 'RECEIVE', 'SEND', 'DELIVER', 'DEFER', 'FAIL', 'DSN'];

// datetime-local "2026-12-06T15:00" (the browser's local time) -> "2026-12-06T14:00:00Z".
function utc(v) {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? v : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function trackingView(ctx) {
  const sender = el('input', { type: 'text', name: 'Sender', placeholder: 'sender@contoso.com' });
  const recipients = el('input', { type: 'text', name: 'Recipients', placeholder: 'one or more, separated by commas' });
  const messageId = el('input', { type: 'text', name: 'MessageId', placeholder: '<id@contoso.com>' });
  const start = el('input', { type: 'datetime-local', name: 'Start' });
  const end = el('input', { type: 'datetime-local', name: 'End' });
  const eventId = el('select', { name: 'EventId' }, ...EVENTS.map((e) => el('option', { value: e }, e || '(any)')));
  const resultSize = el('input', { type: 'number', name: 'ResultSize', min: '1', value: '1000' });
  const search = el('button', { type: 'submit', class: 'btn primary' }, 'Search');
  const clearBtn = el('button', { type: 'button', class: 'btn' }, 'Clear');
  const errorBox = el('div', { class: 'pane-error', role: 'alert' });
  errorBox.hidden = true;
  const info = el('div', { class: 'muted result-info' }, 'Enter search criteria and click Search.');
  const form = el('form', { class: 'form search-form' },
    el('div', { class: 'search-grid' },
      field('Sender:', sender), field('Recipients:', recipients), field('Message ID:', messageId),
      field('Start:', start), field('End:', end), field('Event ID:', eventId), field('Result size:', resultSize)),
    el('div', { class: 'form-buttons' }, search, clearBtn));
  const list = makeList({
    label: 'Message tracking results',
    empty: 'No results.',
    key: (o) => o.key,
    onSelect: () => ctx.changed(),
    onOpen: (o) => { const { key, ...rest } = o; objectDialog(`Message Tracking: ${o.EventId || ''}`, rest); },
    columns: [
      { label: 'Time Stamp', value: (o) => dateText(o.Timestamp), sort: (o) => o.Timestamp || '' },
      { label: 'Event ID', value: (o) => o.EventId },
      { label: 'Source', value: (o) => o.Source },
      { label: 'Sender', value: (o) => o.Sender },
      { label: 'Recipients', value: (o) => o.Recipients },
      { label: 'Message Subject', value: (o) => o.MessageSubject },
      { label: 'Message ID', value: (o) => o.MessageId },
      { label: 'Client IP', value: (o) => o.ClientIp },
      { label: 'Server IP', value: (o) => o.ServerIp },
      { label: 'Connector', value: (o) => o.ConnectorId },
      { label: 'Total Bytes', value: (o) => o.TotalBytes, cls: 'num' },
      { label: 'Recipient Status', value: (o) => o.RecipientStatus },
    ],
  });
  let count = null;
  function params() {
    const p = {};
    if (sender.value.trim()) p.Sender = sender.value.trim();
    const r = recipients.value.split(/[,;\s]+/).map((s) => s.trim()).filter(Boolean);
    if (r.length) p.Recipients = r;
    if (messageId.value.trim()) p.MessageId = messageId.value.trim();
    if (start.value) p.Start = utc(start.value);
    if (end.value) p.End = utc(end.value);
    if (eventId.value) p.EventId = eventId.value;
    if (resultSize.value) p.ResultSize = resultSize.value;
    return p;
  }
  async function run() {
    clear(errorBox);
    errorBox.hidden = true;
    search.disabled = true;
    info.textContent = 'Searching…';
    try {
      const rows = await get('Get-MessageTrackingLog', params());
      list.setRows(rows.map((o, i) => ({ ...o, key: String(i) })));
      count = rows.length;
      info.textContent = `${rows.length} event${rows.length === 1 ? '' : 's'} found.`;
    } catch (e) {
      if (reportSignedOut(e)) return;
      errorBox.append(e.message);
      errorBox.hidden = false;
      info.textContent = '';
      list.setRows([]);
      count = null;
    } finally {
      search.disabled = false;
      ctx.changed();
    }
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); run(); });
  clearBtn.addEventListener('click', () => { form.reset(); resultSize.value = '1000'; list.setRows([]); count = null; info.textContent = 'Enter search criteria and click Search.'; ctx.changed(); });
  return {
    node: el('div', { class: 'tracking-view' }, form, errorBox, info, list.node),
    // Refresh repeats the last search (none is run before the admin asks).
    async load() { if (count !== null) await run(); },
    actions: () => [],
    selection() {
      const o = list.selected();
      return o ? { title: o.MessageSubject || o.MessageId || 'Event', actions: [{ label: 'Properties', icon: 'properties', run: () => { const { key, ...rest } = o; objectDialog('Message Tracking Event', rest); } }] } : null;
    },
    status: () => (count === null ? '' : `${count} events`),
  };
}
