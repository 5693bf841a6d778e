// wizard_form.js — the controls of the connector wizards and properties:
// labelled text boxes, check boxes, radio groups, and a message slot next
// to each one for what the browser or the cmdlet found wrong with it.
// Must never: put a value into the page other than as text (dom.js), or
// decide what the cmdlet accepts beyond the cheap checks in ipcheck.js.

import { el, append, clear } from './dom.js';

let serial = 0;
export function uid(prefix = 'wz') {
  serial += 1;
  return `${prefix}-${serial}`;
}

// A message slot: set(msg) shows it (role=alert), set(null) hides it.
export function messageSlot(cls = 'wz-field-error') {
  const node = el('div', { class: cls, role: 'alert' });
  node.hidden = true;
  return {
    node,
    set(msg) {
      clear(node);
      if (msg) append(node, [String(msg)]);
      node.hidden = !msg;
    },
  };
}

// A labelled text box. opts: {value, onInput(v), type, size, cls, disabled, hint}
// -> {node, input, error: slot, get(), set(v)}
export function textField(label, opts = {}) {
  const id = uid('tf');
  const input = el('input', {
    id, type: opts.type || 'text', class: `wz-input ${opts.cls || ''}`.trim(), autocomplete: 'off', spellcheck: 'false',
  });
  input.value = opts.value === undefined || opts.value === null ? '' : String(opts.value);
  if (opts.disabled) input.disabled = true;
  const error = messageSlot();
  if (opts.onInput) input.addEventListener('input', () => { error.set(null); opts.onInput(input.value); });
  else input.addEventListener('input', () => error.set(null));
  const node = el('div', { class: `wz-field ${opts.inline ? 'wz-inline' : ''}`.trim() },
    el('label', { for: id }, label), input, opts.hint ? el('div', { class: 'wz-hint' }, opts.hint) : null, error.node);
  return { node, input, error, get: () => input.value.trim(), set: (v) => { input.value = v; } };
}

// A check box with its label after it. -> {node, input, error, get(), set(b)}
export function checkField(label, opts = {}) {
  const id = uid('cb');
  const input = el('input', { id, type: 'checkbox' });
  input.checked = !!opts.checked;
  if (opts.disabled) input.disabled = true;
  const error = messageSlot();
  input.addEventListener('change', () => { error.set(null); if (opts.onChange) opts.onChange(input.checked); });
  const node = el('div', { class: `wz-check ${opts.indent ? 'wz-indent' : ''}`.trim() },
    input, el('label', { for: id }, label), error.node);
  return { node, input, error, get: () => input.checked, set: (b) => { input.checked = !!b; } };
}

// Radio buttons: choices [{value, label, extra?: Node shown under it}].
// -> {node, error, get(), set(v), inputs: {value: input}}
export function radioGroup(legend, choices, opts = {}) {
  const name = uid('rg');
  const error = messageSlot();
  const inputs = {};
  const items = choices.map((c) => {
    const id = uid('rb');
    const input = el('input', { id, type: 'radio', name, value: c.value });
    input.checked = c.value === opts.value;
    input.addEventListener('change', () => { error.set(null); if (input.checked && opts.onChange) opts.onChange(c.value); });
    inputs[c.value] = input;
    return el('div', { class: 'wz-radio' }, input, el('label', { for: id }, c.label), c.extra || null);
  });
  const node = el('fieldset', { class: 'wz-radios' }, legend ? el('legend', {}, legend) : null, items, error.node);
  return {
    node,
    error,
    inputs,
    get: () => (Object.values(inputs).find((i) => i.checked) || {}).value,
    set(v) { for (const [k, i] of Object.entries(inputs)) i.checked = k === v; },
  };
}

// A select list. choices [{value, label}] -> {node, input, error, get(), set(v)}
export function selectField(label, choices, opts = {}) {
  const id = uid('sf');
  const input = el('select', { id, class: 'wz-select' }, choices.map((c) => el('option', { value: c.value }, c.label)));
  input.value = opts.value;
  const error = messageSlot();
  input.addEventListener('change', () => { error.set(null); if (opts.onChange) opts.onChange(input.value); });
  const node = el('div', { class: 'wz-field' }, el('label', { for: id }, label), input, error.node);
  return { node, input, error, get: () => input.value, set: (v) => { input.value = v; } };
}

// A paragraph of explanation at the top of a page or dialog.
export function intro(text) {
  return el('p', { class: 'wz-intro' }, text);
}
