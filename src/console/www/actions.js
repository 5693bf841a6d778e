// actions.js — runs one changing cmdlet for an action-pane click and shows
// the outcome as EMC does: nothing on success, the cmdlet's own error (and
// the command line) in an error box on failure, its warnings in a box.
// Must never: run a changing cmdlet for a ViewOnlyAdmin (the views hide those actions).

import { cmdlet } from './api.js';
import { errorDialog, openModal, commandBlock } from './dialog.js';
import { reportSignedOut } from './errors.js';
import { el } from './dom.js';

let lastCommandListener = null;
export function onCommand(fn) { lastCommandListener = fn; }

// Shows a command line that a dialog ran in the status bar ("Last command").
export function noteCommand(r) {
  if (lastCommandListener && r && r.command) lastCommandListener(r.command, !!r.ok);
}

// Returns the answer when ok, else null (after showing why).
export async function runChange(name, params) {
  let r;
  try {
    r = await cmdlet(name, params);
  } catch (e) {
    if (!reportSignedOut(e)) errorDialog('postern: error', e.message, null);
    return null;
  }
  noteCommand(r);
  if (!r.ok) {
    errorDialog('postern: error', r.error, r.command);
    return null;
  }
  const warnings = [].concat(r.warnings || []).filter(Boolean);
  if (warnings.length) {
    openModal({
      title: 'postern: warning',
      body: el('div', { class: 'result' }, el('pre', { class: 'warning-text' }, warnings.join('\n')),
        commandBlock('The following Exchange Management Shell command completed with warnings:', r.command)),
      buttons: [{ label: 'OK', primary: true, onClick: (m) => m.close() }],
    });
  }
  return r;
}
