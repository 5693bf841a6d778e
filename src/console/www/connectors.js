// connectors.js — the call sites of the other helper's connector wizards
// and properties (wizard_send.js, wizard_receive.js), loaded only when an
// action is clicked so that the shell works before those files exist.
// Must never: build a connector command itself (those modules own it).

import { errorDialog } from './dialog.js';

async function open(load, exportName, ctx, identity) {
  let mod;
  try {
    mod = await load();
  } catch (e) {
    errorDialog('postern: error', `This wizard is not available in this build of the console (${e.message}).`, null);
    return;
  }
  if (typeof mod[exportName] !== 'function') {
    errorDialog('postern: error', `This wizard is not available in this build of the console (${exportName} is missing).`, null);
    return;
  }
  mod[exportName](ctx, identity);
}

// ctx = {server, role, onChanged}
export const newSendConnector = (ctx) => open(() => import('./wizard_send.js'), 'openNewSendConnector', ctx);
export const sendConnectorProperties = (ctx, id) => open(() => import('./wizard_send.js'), 'openSendConnectorProperties', ctx, id);
export const newReceiveConnector = (ctx) => open(() => import('./wizard_receive.js'), 'openNewReceiveConnector', ctx);
export const receiveConnectorProperties = (ctx, id) => open(() => import('./wizard_receive.js'), 'openReceiveConnectorProperties', ctx, id);
