// context_menu.js — the right-click menu of a selected row, as in EMC: the
// same actions as the action pane's lower group. Closes on a click
// elsewhere, Escape, scrolling or a resize.
// Must never: show an action the action pane would not (the caller filters them).

import { el } from './dom.js';

let open = null;

function close() {
  if (!open) return;
  open.remove();
  open = null;
  document.removeEventListener('mousedown', outside, true);
  document.removeEventListener('keydown', onKey, true);
  window.removeEventListener('resize', close);
  window.removeEventListener('scroll', close, true);
}

function outside(ev) { if (open && !open.contains(ev.target)) close(); }
function onKey(ev) { if (ev.key === 'Escape') { ev.stopPropagation(); close(); } }

// actions: [{label, run, disabled}]
export function openContextMenu(x, y, actions) {
  close();
  const menu = el('ul', { class: 'context-menu', role: 'menu' });
  for (const a of actions) {
    const b = el('button', { type: 'button', role: 'menuitem', class: 'context-item', disabled: a.disabled || undefined }, a.label);
    b.addEventListener('click', () => { close(); a.run(); });
    menu.append(el('li', { role: 'none' }, b));
  }
  document.body.append(menu);
  // Keep it on screen (CSSOM positions are allowed by the CSP; style attributes are not used).
  const r = menu.getBoundingClientRect();
  menu.style.left = `${Math.min(x, window.innerWidth - r.width - 4)}px`;
  menu.style.top = `${Math.min(y, window.innerHeight - r.height - 4)}px`;
  open = menu;
  document.addEventListener('mousedown', outside, true);
  document.addEventListener('keydown', onKey, true);
  window.addEventListener('resize', close);
  window.addEventListener('scroll', close, true);
  const first = menu.querySelector('button:not([disabled])');
  if (first) first.focus();
}
