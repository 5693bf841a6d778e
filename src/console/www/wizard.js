// wizard.js — the generic EMC wizard: a modal with the list of page names
// on the left, the current page, Back / Next / Cancel, a summary page
// whose button is "New", and a Completion page showing the Exchange
// Management Shell command the server ran (or its error).
// Must never: build or show a command line of its own (the line shown is
// the server's `command`), or put a value into the page other than as text.

import { el, clear } from './dom.js';
import { openFrame, focusFirst } from './wizard_modal.js';
import { messageSlot, uid } from './wizard_form.js';
import { errorText, namedParams } from './wizard_errors.js';
import { reportSignedOut } from './errors.js';

// openWizard({title, state, pages: [{name, description, render(state, reg) -> Node,
//     skip(state)?, validate(state, reg)? -> bool | Promise<bool>, params: [...]}],
//   summaryName, summary(state) -> Node, run(state) -> Promise<answer>, itemName(state), onDone(answer)})
// reg.field(param, field) registers a field (with .error) for messages; reg.top is the page's slot;
// reg.stepsChanged() redraws the page list after a value that skip() reads changed.
export function openWizard(w) {
  const state = w.state;
  let current = 0; // index into steps()
  let answer = null;
  let pending = {}; // param -> message, shown when its page is next shown
  let pendingTop = null;
  let reg = null;

  const stepList = el('ol', { class: 'wz-steps', 'aria-label': 'Wizard pages' });
  const pageTitle = el('h2', { class: 'wz-page-title' });
  const pageDesc = el('p', { class: 'wz-page-desc' });
  const pageBody = el('div', { class: 'wz-page-body' });
  pageTitle.id = uid('wz-title');
  const page = el('div', { class: 'wz-page', role: 'region', 'aria-labelledby': pageTitle.id }, pageTitle, pageDesc, pageBody);
  const frame = openFrame({
    title: w.title,
    cls: 'wz-wizard',
    body: el('div', { class: 'wz-frame' }, el('nav', { class: 'wz-nav' }, stepList), page),
  });

  function steps() {
    const list = w.pages.filter((p) => !p.skip || !p.skip(state)).map((p) => ({ kind: 'page', page: p, name: p.name }));
    list.push({ kind: 'summary', name: w.summaryName });
    list.push({ kind: 'completion', name: 'Completion' });
    return list;
  }

  // The page list; pages call reg.stepsChanged() when a value changes
  // which pages follow (a usage, DNS or smart hosts).
  function renderSteps() {
    clear(stepList);
    steps().forEach((s, i) => {
      stepList.append(el('li', {
        class: i === current ? 'wz-current' : i < current ? 'wz-done' : '',
        'aria-current': i === current ? 'step' : null,
      }, s.name));
    });
  }

  function show() {
    const list = steps();
    const step = list[current];
    renderSteps();
    pageTitle.textContent = step.name;
    clear(pageBody);
    reg = { fields: {}, top: messageSlot('wz-page-error'), stepsChanged: renderSteps };
    reg.field = (param, f) => { reg.fields[param] = f; return f; };
    pageBody.append(reg.top.node);
    frame.box.dataset.page = step.name;

    if (step.kind === 'page') {
      pageDesc.textContent = step.page.description || '';
      pageBody.append(step.page.render(state, reg));
      for (const [p, msg] of Object.entries(pending)) if (reg.fields[p]) reg.fields[p].error.set(msg);
      if (pendingTop) reg.top.set(pendingTop);
      pending = {};
      pendingTop = null;
      frame.setButtons([
        { label: '< Back', disabled: current === 0, onClick: back },
        { label: 'Next >', primary: true, onClick: next },
        { label: 'Cancel', onClick: (f) => f.cancel() },
      ]);
    } else if (step.kind === 'summary') {
      pageDesc.textContent = 'The wizard will use the configuration below. Click New to continue.';
      pageBody.append(el('div', { class: 'wz-summary-label' }, 'Configuration Summary:'), w.summary(state));
      if (pendingTop) reg.top.set(pendingTop);
      pendingTop = null;
      frame.setButtons([
        { label: '< Back', onClick: back },
        { label: 'New', primary: true, onClick: run },
        { label: 'Cancel', onClick: (f) => f.cancel() },
      ]);
    } else {
      pageDesc.textContent = answer.ok
        ? 'The wizard completed successfully. Click Finish to close this wizard.'
        : 'The wizard did not complete successfully. Click Back to change the settings, or Finish to close this wizard.';
      pageBody.append(completion(answer, w.itemName ? w.itemName(state) : ''));
      frame.setButtons(answer.ok
        ? [{ label: 'Finish', primary: true, onClick: (f) => f.close() }]
        : [
          { label: '< Back', onClick: backFromFailure },
          { label: 'Finish', primary: true, onClick: (f) => f.close() },
        ]);
    }
    focusFirst(pageBody);
  }

  function back() {
    if (current > 0) current -= 1;
    show();
  }

  async function next() {
    const step = steps()[current];
    if (step.page.validate) {
      frame.setBusy(true);
      let ok = false;
      try {
        ok = await step.page.validate(state, reg);
      } finally {
        frame.setBusy(false);
      }
      if (!ok) return;
    }
    current += 1;
    show();
  }

  async function run() {
    frame.setBusy(true);
    try {
      answer = await w.run(state);
    } catch (e) {
      frame.setBusy(false);
      if (reportSignedOut(e)) { frame.close(); return; }
      reg.top.set(e.message);
      return;
    }
    frame.setBusy(false);
    current = steps().length - 1;
    show();
    if (answer.ok && w.onDone) w.onDone(answer);
  }

  // Back from a failed command: to the page of the field the error names
  // (the message shown next to it), else to the summary with the message.
  function backFromFailure() {
    const text = errorText(answer);
    const list = steps();
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (s.kind !== 'page' || !s.page.params) continue;
      const hit = namedParams(text, s.page.params);
      if (hit.length) {
        for (const p of hit) pending[p] = text;
        current = i;
        show();
        return;
      }
    }
    pendingTop = text;
    current = list.length - 2;
    show();
  }

  show();
  return frame;
}

function completion(answer, itemName) {
  const ok = !!answer.ok;
  const box = el('div', { class: 'wz-completion' });
  box.append(el('div', { class: 'wz-summary-count' },
    `Summary: 1 item(s). ${ok ? 1 : 0} succeeded, ${ok ? 0 : 1} failed.`));
  const item = el('div', { class: `wz-item ${ok ? 'wz-ok' : 'wz-failed'}` },
    el('div', { class: 'wz-item-head' },
      el('span', { class: 'wz-item-icon', 'aria-hidden': 'true' }, ok ? '✓' : '✕'),
      el('span', { class: 'wz-item-name' }, itemName),
      el('span', { class: 'wz-item-status' }, ok ? 'Completed' : 'Failed')));
  if (!ok) item.append(el('div', { class: 'wz-label' }, 'Error:'), el('pre', { class: 'wz-error-text' }, errorText(answer)));
  const warnings = [].concat(answer.warnings || []).filter(Boolean);
  if (warnings.length) item.append(el('div', { class: 'wz-label' }, 'Warning:'), el('pre', { class: 'wz-warning-text' }, warnings.join('\n')));
  item.append(
    el('div', { class: 'wz-label' }, ok
      ? 'The following Exchange Management Shell command completed successfully:'
      : 'The following Exchange Management Shell command failed:'),
    el('pre', { class: 'wz-command', 'aria-label': 'Exchange Management Shell command' }, answer.command || ''));
  box.append(item);
  return box;
}
