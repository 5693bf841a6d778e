// wizard_modal.js — the frame of the connector wizards, their properties
// and their small dialogs (SMTP Address Space, Add Smart Host, ...): an
// overlay with a modal box (app.css's modal, modal-title, modal-body,
// modal-buttons), stacked so that Escape closes only the topmost one.
// Must never: put a value into the page other than as text (dom.js).

import { el, clear } from './dom.js';

const stack = [];

function onKey(ev) {
  const top = stack[stack.length - 1];
  if (!top || ev.key !== 'Escape' || top.busy) return;
  ev.preventDefault();
  top.cancel();
}

// openFrame({title, body, buttons: [{label, onClick(frame), primary, disabled, name}],
//   cls, onCancel}) -> {box, body, setButtons, setBusy, close, cancel}
export function openFrame({ title, body, buttons = [], cls = '', onCancel } = {}) {
  const buttonBar = el('div', { class: 'modal-buttons' });
  const bodyNode = el('div', { class: 'modal-body' }, body);
  const box = el('div', {
    class: `modal wz-modal ${cls}`.trim(), role: 'dialog', 'aria-modal': 'true', 'aria-label': title,
  }, el('div', { class: 'modal-title' }, title), bodyNode, buttonBar);
  const overlay = el('div', { class: 'modal-overlay wz-overlay' }, box);
  const frame = {
    box,
    body: bodyNode,
    busy: false,
    buttons: {},
    setButtons(list) {
      clear(buttonBar);
      frame.buttons = {};
      for (const b of list) {
        const node = el('button', { type: 'button', class: b.primary ? 'btn primary' : 'btn' }, b.label);
        node.disabled = !!b.disabled;
        node.dataset.off = b.disabled ? '1' : '';
        node.addEventListener('click', () => { if (!frame.busy) b.onClick(frame); });
        frame.buttons[b.name || b.label] = node;
        buttonBar.append(node);
      }
    },
    setBusy(on) {
      frame.busy = !!on;
      box.classList.toggle('busy', frame.busy);
      box.setAttribute('aria-busy', frame.busy ? 'true' : 'false');
      for (const n of Object.values(frame.buttons)) n.disabled = frame.busy || n.dataset.off === '1';
    },
    close() {
      const i = stack.indexOf(frame);
      if (i >= 0) stack.splice(i, 1);
      overlay.remove();
      if (!stack.length) document.removeEventListener('keydown', onKey);
    },
    cancel() {
      if (onCancel) onCancel(frame);
      frame.close();
    },
  };
  frame.setButtons(buttons);
  if (!stack.length) document.addEventListener('keydown', onKey);
  stack.push(frame);
  document.body.append(overlay);
  focusFirst(box);
  return frame;
}

export function focusFirst(node) {
  const first = node.querySelector('input:not([disabled]), select, textarea, [role="listbox"]');
  if (first) first.focus();
}

// A small OK/Cancel dialog: body is a Node; ok() returns true to close
// (false keeps it open, e.g. after marking a field wrong).
export function okCancel(title, body, ok) {
  // Enter in a text box is OK, as in EMC's dialogs.
  body.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && ev.target instanceof HTMLInputElement && ev.target.type !== 'checkbox' && ev.target.type !== 'radio') {
      ev.preventDefault();
      frame.buttons.OK.click();
    }
  });
  const frame = openFrame({
    title,
    body,
    cls: 'wz-small',
    buttons: [
      { label: 'OK', primary: true, onClick: (f) => { if (ok()) f.close(); } },
      { label: 'Cancel', onClick: (f) => f.cancel() },
    ],
  });
  return frame;
}
