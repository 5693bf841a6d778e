// dialog.js — modal dialogs of this helper's own views: a plain modal, a
// confirmation, an error box, and a small EMC-style wizard (pages on the
// left, Back/Next/Cancel, a Completion page showing the command line).
// Same classes as wizard.js: modal, modal-title, modal-body, modal-buttons.
// Must never: build markup from text (everything goes through dom.js).

import { el, append, clear } from './dom.js';
import { reportSignedOut } from './errors.js';

// openModal({title, body, buttons: [{label, onClick, primary, id}], wide})
// -> {root, body, close(), setError(msg), setBusy(bool), buttons: {label: node}}
export function openModal({ title, body, buttons = [], wide = false, onClose } = {}) {
  const errorBox = el('div', { class: 'modal-error', role: 'alert' });
  errorBox.hidden = true;
  const bodyNode = el('div', { class: 'modal-body' }, errorBox, body);
  const buttonBar = el('div', { class: 'modal-buttons' });
  const box = el('div', { class: wide ? 'modal modal-wide' : 'modal', role: 'dialog', 'aria-modal': 'true', 'aria-label': title },
    el('div', { class: 'modal-title' }, title), bodyNode, buttonBar);
  const overlay = el('div', { class: 'modal-overlay' }, box);
  const handle = {
    root: box,
    body: bodyNode,
    buttons: {},
    close() {
      overlay.remove();
      document.removeEventListener('keydown', onKey);
      if (onClose) onClose();
    },
    setError(msg) {
      clear(errorBox);
      if (msg) append(errorBox, [String(msg)]);
      errorBox.hidden = !msg;
    },
    setBusy(busy) {
      box.classList.toggle('busy', !!busy);
      for (const b of Object.values(handle.buttons)) b.disabled = !!busy || b.dataset.off === '1';
    },
    setButtons(list) {
      clear(buttonBar);
      handle.buttons = {};
      for (const b of list) {
        const node = el('button', { type: 'button', class: b.primary ? 'btn primary' : 'btn' }, b.label);
        if (b.disabled) { node.disabled = true; node.dataset.off = '1'; }
        node.addEventListener('click', () => b.onClick(handle));
        handle.buttons[b.label] = node;
        buttonBar.append(node);
      }
    },
  };
  function onKey(ev) {
    if (ev.key === 'Escape' && !box.classList.contains('busy')) handle.close();
  }
  document.addEventListener('keydown', onKey);
  handle.setButtons(buttons);
  document.body.append(overlay);
  const first = box.querySelector('input, select, textarea, button.primary, button');
  if (first) first.focus();
  return handle;
}

// Resolves true when the admin clicks okLabel.
export function confirmDialog(title, message, okLabel = 'Yes') {
  return new Promise((resolve) => {
    let answered = false;
    openModal({
      title,
      body: el('div', { class: 'confirm' }, el('span', { class: 'icon-warn', 'aria-hidden': 'true' }, '!'), el('p', {}, message)),
      buttons: [
        { label: okLabel, primary: true, onClick: (m) => { answered = true; m.close(); resolve(true); } },
        { label: 'No', onClick: (m) => m.close() },
      ],
      onClose: () => { if (!answered) resolve(false); },
    });
  });
}

// The cmdlet's own words, and the line it ran, as EMC's error box.
export function errorDialog(title, error, command) {
  openModal({
    title,
    body: el('div', { class: 'result' },
      el('p', { class: 'result-failed' }, 'The following error(s) occurred:'),
      el('pre', { class: 'error-text' }, error || 'Unknown error'),
      command ? commandBlock('The following Exchange Management Shell command failed:', command) : null),
    buttons: [{ label: 'OK', primary: true, onClick: (m) => m.close() }],
  });
}

export function commandBlock(caption, command) {
  return el('div', { class: 'command' }, el('p', {}, caption), el('pre', { class: 'command-line' }, command));
}

// A field: label + control (+ optional hint), for forms in dialogs.
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  return el('div', { class: 'field' }, el('label', { for: id }, label), control, hint ? el('div', { class: 'hint' }, hint) : null);
}

// openSimpleWizard({title, pages: [{name, render() -> Node, validate() -> msg|null}],
//   summary() -> Node, run: async () -> api answer, onDone})
// Pages: the admin's pages, then "New <x>" (summary, button "New"), then Completion.
export function openSimpleWizard({ title, pages, summaryName, summary, run, onDone }) {
  const steps = [...pages.map((p) => p.name), summaryName, 'Completion'];
  let index = 0;
  let result = null;
  const stepList = el('ol', { class: 'wizard-steps' });
  const content = el('div', { class: 'wizard-content' });
  const frame = el('div', { class: 'wizard' }, stepList, content);
  const rendered = pages.map((p) => p.render());
  content.addEventListener('input', () => modal.setError(null));
  const modal = openModal({ title, body: frame, wide: true });
  // The wizard's errors show on its page, under the page's heading.
  const pageError = el('div', { class: 'modal-error', role: 'alert' });
  modal.setError = (msg) => { clear(pageError); if (msg) pageError.append(String(msg)); pageError.hidden = !msg; };

  function show() {
    clear(stepList);
    steps.forEach((s, i) => stepList.append(el('li', { class: i === index ? 'current' : i < index ? 'done' : '' }, s)));
    clear(content);
    modal.setError(null);
    const last = index === steps.length - 1;
    if (index < pages.length) {
      content.append(el('h2', {}, pages[index].name), pageError, rendered[index]);
    } else if (index === pages.length) {
      content.append(el('h2', {}, summaryName), pageError, el('p', {}, 'Review the configuration. Click New to run the command, or Back to change it.'), summary());
    } else {
      content.append(el('h2', {}, 'Completion'), completion(result));
    }
    const buttons = [];
    if (!last) {
      buttons.push({ label: '< Back', disabled: index === 0, onClick: () => { index -= 1; show(); } });
      if (index === pages.length) buttons.push({ label: 'New', primary: true, onClick: doRun });
      else buttons.push({ label: 'Next >', primary: true, onClick: next });
      buttons.push({ label: 'Cancel', onClick: (m) => m.close() });
    } else {
      // After a refusal, Back returns to the first page with the cmdlet's own words on it.
      if (result && !result.ok) buttons.push({ label: '< Back', onClick: () => { const why = result.error; index = 0; show(); modal.setError(why); } });
      buttons.push({ label: 'Finish', primary: true, onClick: (m) => m.close() });
    }
    modal.setButtons(buttons);
    const first = content.querySelector('input, select, textarea');
    if (first) first.focus();
  }
  function next() {
    const msg = pages[index].validate ? pages[index].validate() : null;
    if (msg) { modal.setError(msg); return; }
    index += 1;
    show();
  }
  async function doRun() {
    modal.setBusy(true);
    try {
      result = await run();
    } catch (e) {
      modal.setBusy(false);
      if (reportSignedOut(e)) { modal.close(); return; }
      modal.setError(e.message);
      return;
    }
    modal.setBusy(false);
    index += 1;
    show();
    if (result.ok && onDone) onDone(result);
  }
  show();
  return modal;
}

function completion(r) {
  const box = el('div', { class: 'result' });
  if (r.ok) {
    box.append(el('p', { class: 'result-ok' }, 'The wizard completed successfully. Click Finish to close this wizard.'));
    box.append(commandBlock('The following Exchange Management Shell command completed successfully:', r.command));
  } else {
    box.append(el('p', { class: 'result-failed' }, 'The wizard did not complete: the command failed.'));
    box.append(el('pre', { class: 'error-text' }, r.error || 'Unknown error'));
    box.append(commandBlock('The following Exchange Management Shell command failed:', r.command));
  }
  if (r.warnings && r.warnings.length) box.append(el('pre', { class: 'warning-text' }, [].concat(r.warnings).join('\n')));
  if (r.text) box.append(el('pre', { class: 'output-text' }, r.text));
  return box;
}

// All properties of an object, as Format-List would show them (read-only).
export function objectDialog(title, obj) {
  const dl = el('dl', { class: 'summary props-list' });
  for (const [k, v] of Object.entries(obj || {})) {
    const text = v === null || v === undefined ? '' : Array.isArray(v) ? v.join('\n') : typeof v === 'object' ? JSON.stringify(v) : String(v);
    dl.append(el('dt', {}, `${k}:`), el('dd', {}, text));
  }
  openModal({ title, body: dl, wide: true, buttons: [{ label: 'Close', primary: true, onClick: (m) => m.close() }] });
}
