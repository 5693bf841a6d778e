// errors.js — one place that tells the shell a session has ended (a 401
// from any call), so every view returns to the sign-in page the same way.
// Must never: swallow an error that is not a signed-out one.

export const SIGNED_OUT_EVENT = 'postern-signed-out';

// True (and the shell is told) when e says the session has ended.
export function reportSignedOut(e) {
  if (!e || !e.signedOut) return false;
  document.dispatchEvent(new CustomEvent(SIGNED_OUT_EVENT, { detail: e.message }));
  return true;
}
