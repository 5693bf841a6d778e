// views_common.js — small cells the lists share (status, warning marker, dates).
// Must never: build a cell from HTML text.

import { el } from './dom.js';

export function statusCell(enabled) {
  return el('span', { class: enabled ? 'status status-on' : 'status status-off' }, enabled ? 'Enabled' : 'Disabled');
}

export function warnCell(text) {
  return el('span', { class: 'marker-warn', title: text }, el('span', { class: 'icon-warn', 'aria-hidden': 'true' }, '!'), text);
}

// "2031-12-06T15:33:37Z" -> "12/6/2031 3:33 PM" in the browser's locale.
export function dateText(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString();
}

export function dateOnly(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleDateString();
}
