// api.js — the console's only way to the server: the JSON API of
// docs/console.md. Every change is one cmdlet; this module never builds
// command text (the server writes the line from the parameters).
// Must never: send a request that changes something without the CSRF token.

let csrf = null;

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (res.status === 401) {
    csrf = null;
    const e = new Error((data && data.error) || 'Your session has ended. Sign in again.');
    e.signedOut = true;
    throw e;
  }
  if (!res.ok) throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
  return data;
}

// {user, role, csrf, server} or null when not signed in.
export async function session() {
  try {
    const s = await call('GET', '/api/session');
    csrf = s.csrf;
    return s;
  } catch (e) {
    if (e.signedOut) return null;
    throw e;
  }
}

export async function login(user, password) {
  const s = await call('POST', '/api/login', { user, password });
  csrf = s.csrf;
  return s;
}

export async function logout() {
  try {
    await call('POST', '/api/logout', {});
  } finally {
    csrf = null;
  }
}

// Runs one cmdlet: {ok, command, objects, text, error, warnings}.
export function cmdlet(name, params = {}) {
  return call('POST', '/api/cmdlet', { cmdlet: name, params });
}

// The objects of a Get- cmdlet; throws with the cmdlet's error.
export async function get(name, params = {}) {
  const r = await cmdlet(name, params);
  if (!r.ok) throw new Error(r.error || `${name} failed`);
  return r.objects || [];
}

export function audit() {
  return call('GET', '/api/audit');
}
