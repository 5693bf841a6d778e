// wizard_summary.js — the "Configuration Summary" box of a wizard's last
// page before New: groups of label / value lines, as EMC lists them.
// Must never: show a password, or a value other than as text.

import { el } from './dom.js';

// summaryBox([{title, lines: [[label, value | array]]}]) -> Node
export function summaryBox(groups) {
  return el('div', { class: 'wz-summary', role: 'group', 'aria-label': 'Configuration Summary' },
    groups.map((g) => el('div', { class: 'wz-summary-group' },
      el('div', { class: 'wz-summary-title' }, g.title),
      g.lines.map(([label, value]) => el('div', { class: 'wz-summary-line' },
        el('span', { class: 'wz-summary-key' }, `${label}:`),
        el('span', { class: 'wz-summary-value' }, Array.isArray(value) ? (value.length ? value.join(', ') : '(none)') : String(value)))))));
}
