// app.js — the console's shell, as EMC: sign-in page, top bar, console tree
// (left), result pane with tabs (center), action pane (right), status bar.
// Views (views_*.js) fill the center and name their actions; this file only
// places them. Must never: render a server value as HTML, or show a
// changing action to a ViewOnlyAdmin.

import * as api from './api.js';
import { el, clear } from './dom.js';
import { SIGNED_OUT_EVENT } from './errors.js';
import { onCommand } from './actions.js';
import { openContextMenu } from './context_menu.js';
import { acceptedDomainsView, sendConnectorsView, transportSettingsView } from './views_org.js';
import { receiveConnectorsView, certificatesView, serverSummary } from './views_server.js';
import { queuesView, messagesView } from './views_queue.js';
import { trackingView } from './views_tracking.js';
import { auditView } from './views_audit.js';

const root = document.getElementById('app');

// The console tree: groups of nodes; each node has tabs of views.
const TREE = [
  { label: 'Organization Configuration', nodes: [
    { id: 'org-hub', label: 'Hub Transport', title: 'Hub Transport', tabs: [
      { id: 'accepted', label: 'Accepted Domains', make: acceptedDomainsView },
      { id: 'send', label: 'Send Connectors', make: sendConnectorsView },
      { id: 'transport', label: 'Transport Settings', make: transportSettingsView },
    ] },
  ] },
  { label: 'Server Configuration', nodes: [
    { id: 'server-hub', label: 'Hub Transport', title: 'Hub Transport', upper: serverSummary, tabs: [
      { id: 'receive', label: 'Receive Connectors', make: receiveConnectorsView },
      { id: 'certs', label: 'Certificates', make: certificatesView },
    ] },
  ] },
  { label: 'Toolbox', nodes: [
    { id: 'queues', label: 'Queue Viewer', title: 'Queue Viewer', tabs: [
      { id: 'queues', label: 'Queues', make: queuesView },
      { id: 'messages', label: 'Messages', make: messagesView },
    ] },
    { id: 'tracking', label: 'Message Tracking', title: 'Message Tracking', tabs: [
      { id: 'search', label: 'Search', make: trackingView },
    ] },
  ] },
  { label: null, nodes: [
    { id: 'audit', label: 'Audit Log', title: 'Audit Log', tabs: [
      { id: 'log', label: 'Changes made through the console', make: auditView },
    ] },
  ] },
];

let state = null; // {session, node, tab, views: Map, view}

document.addEventListener(SIGNED_OUT_EVENT, (ev) => {
  if (state) signIn(ev.detail || 'Your session has ended. Sign in again.');
});

async function boot() {
  let s = null;
  try {
    s = await api.session();
  } catch (e) {
    signIn(`The console server did not answer: ${e.message}`);
    return;
  }
  if (s) start(s); else signIn(null);
}

// ---- sign-in ----
function signIn(message) {
  state = null;
  clear(root);
  const user = el('input', { id: 'signin-user', name: 'user', autocomplete: 'username', required: true });
  const password = el('input', { id: 'signin-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = el('div', { class: 'signin-error', role: 'alert' });
  if (message) error.append(message); else error.hidden = true;
  const submit = el('button', { type: 'submit', class: 'btn primary' }, 'Sign in');
  const form = el('form', { class: 'signin-form' },
    el('div', { class: 'signin-brand' }, el('span', { class: 'logo', 'aria-hidden': 'true' }), 'postern'),
    el('h1', {}, 'Management Console'),
    el('p', { class: 'signin-sub' }, 'Hub Transport administration'),
    error,
    el('label', { for: 'signin-user' }, 'User name'), user,
    el('label', { for: 'signin-password' }, 'Password'), password,
    submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    clear(error);
    error.hidden = true;
    try {
      const s = await api.login(user.value, password.value);
      start(s);
    } catch (e) {
      error.append(e.message);
      error.hidden = false;
      submit.disabled = false;
      password.value = '';
      password.focus();
    }
  });
  root.append(el('div', { class: 'signin' }, form));
  user.focus();
}

// ---- the console ----
function start(session) {
  const [nodeId, tabId] = location.hash.replace(/^#\/?/, '').split('/');
  state = { session, node: null, tab: null, views: new Map(), view: null, elements: {} };
  clear(root);
  const role = session.role === 'OrgAdmin' ? 'Organization Administrator' : 'View-Only Administrator';
  const signOut = el('button', { type: 'button', class: 'btn topbar-btn', id: 'signout' }, 'Sign out');
  signOut.addEventListener('click', async () => {
    try { await api.logout(); } catch { /* signed out anyway */ }
    location.hash = '';
    signIn('You have signed out.');
  });
  const server = session.server || {};
  const top = el('header', { class: 'topbar' },
    el('div', { class: 'topbar-brand' }, el('span', { class: 'logo', 'aria-hidden': 'true' }), 'postern Management Console'),
    el('div', { class: 'topbar-server', title: server.fqdn || '' }, 'Server: ', el('strong', {}, server.name || ''), ' ', el('span', { class: 'muted' }, `(${server.fqdn || ''})`)),
    el('div', { class: 'topbar-user' }, el('span', { id: 'signed-in-user' }, session.user), ' ', el('span', { class: `role-badge role-${session.role}` }, role)),
    signOut);

  const tree = el('nav', { class: 'tree', 'aria-label': 'Console tree' });
  const treeRoot = el('ul', { role: 'tree' }, el('li', { class: 'tree-root' }, el('span', { class: 'tree-label' }, el('span', { class: 'icon icon-console', 'aria-hidden': 'true' }), 'postern')));
  for (const group of TREE) {
    const ul = el('ul', { role: 'group' });
    for (const node of group.nodes) {
      const item = el('button', { type: 'button', class: 'tree-node', role: 'treeitem', 'data-node': node.id },
        el('span', { class: `icon icon-${node.id}`, 'aria-hidden': 'true' }), node.label);
      item.addEventListener('click', () => openNode(node.id));
      ul.append(el('li', {}, item));
    }
    if (group.label) {
      treeRoot.append(el('li', { class: 'tree-group' }, el('span', { class: 'tree-label' }, el('span', { class: 'icon icon-folder', 'aria-hidden': 'true' }), group.label), ul));
    } else {
      for (const li of ul.children) li.classList.add('tree-top');
      treeRoot.append(...ul.children);
    }
  }
  tree.append(treeRoot);

  const center = el('main', { class: 'center' });
  const actions = el('aside', { class: 'actions', 'aria-label': 'Actions' });
  const statusText = el('span', { class: 'status-count' });
  const statusCmd = el('span', { class: 'status-command' });
  const status = el('footer', { class: 'statusbar' }, statusText, statusCmd);
  onCommand((command, ok) => {
    clear(statusCmd);
    statusCmd.append(ok ? 'Last command: ' : 'Last command (failed): ', el('code', {}, command));
  });
  // Right-click on a row of the tab's list: its actions (list.js has selected it first).
  center.addEventListener('contextmenu', (ev) => {
    const tr = ev.target.closest('.tab-body table.list tbody tr[data-key]');
    if (!tr || !state || !state.view || !state.view.selection) return;
    const sel = state.view.selection();
    const list = sel ? allowed(sel.actions) : [];
    if (!list.length) return;
    ev.preventDefault();
    openContextMenu(ev.clientX, ev.clientY, list);
  });
  root.append(el('div', { class: 'console' }, top, el('div', { class: 'panes' }, tree, center, actions), status));
  state.elements = { tree, center, actions, statusText };
  openNode(TREE.flatMap((g) => g.nodes).some((n) => n.id === nodeId) ? nodeId : 'org-hub', tabId);
}

function findNode(id) {
  return TREE.flatMap((g) => g.nodes).find((n) => n.id === id);
}

function viewCtx() {
  const s = state.session;
  return {
    server: s.server,
    role: s.role,
    user: s.user,
    canChange: s.role === 'OrgAdmin',
    changed: () => renderActions(),
    openTab: (nodeId, tabId) => openNode(nodeId, tabId),
  };
}

function openNode(nodeId, tabId) {
  const node = findNode(nodeId);
  state.node = node;
  for (const b of state.elements.tree.querySelectorAll('.tree-node')) {
    const on = b.dataset.node === nodeId;
    b.classList.toggle('selected', on);
    b.setAttribute('aria-selected', on ? 'true' : 'false');
  }
  const tab = node.tabs.find((t) => t.id === tabId) || node.tabs[0];
  const center = clear(state.elements.center);
  center.append(el('div', { class: 'center-title' }, el('span', { class: `icon icon-${node.id}`, 'aria-hidden': 'true' }), node.title));
  if (node.upper) center.append(node.upper(viewCtx()));
  const tabBar = el('div', { class: 'tabs', role: 'tablist' });
  for (const t of node.tabs) {
    const b = el('button', { type: 'button', role: 'tab', class: t.id === tab.id ? 'tab selected' : 'tab', 'aria-selected': t.id === tab.id ? 'true' : 'false', 'data-tab': t.id }, t.label);
    b.addEventListener('click', () => openNode(node.id, t.id));
    tabBar.append(b);
  }
  if (node.tabs.length > 1 || node.id !== 'audit') center.append(tabBar);
  const key = `${node.id}/${tab.id}`;
  let view = state.views.get(key);
  if (!view) {
    view = tab.make(viewCtx());
    state.views.set(key, view);
  }
  state.tab = tab;
  state.view = view;
  center.append(el('div', { class: 'tab-body' }, view.node));
  if (location.hash !== `#/${key}`) history.replaceState(null, '', `#/${key}`);
  renderActions();
  refresh();
}

async function refresh() {
  const view = state.view;
  state.elements.statusText.textContent = 'Loading…';
  await view.load();
  if (state && state.view === view) renderActions();
}

function actionButton(a) {
  const b = el('button', { type: 'button', class: 'action', disabled: a.disabled || undefined, 'data-action': a.label },
    el('span', { class: `icon icon-action icon-${a.icon || 'none'}`, 'aria-hidden': 'true' }), a.label);
  b.addEventListener('click', () => a.run());
  return el('li', {}, b);
}

// Actions the signed-in role may see: a ViewOnlyAdmin sees no changing one.
function allowed(list) {
  const canChange = state.session.role === 'OrgAdmin';
  return (list || []).filter((a) => canChange || !a.change);
}

function renderActions() {
  if (!state || !state.view) return;
  const pane = clear(state.elements.actions);
  const view = state.view;
  pane.append(el('div', { class: 'actions-title' }, 'Actions'));
  const nodeList = el('ul', {}, ...allowed(view.actions()).map(actionButton),
    actionButton({ label: 'Refresh', icon: 'refresh', run: () => refresh() }));
  pane.append(el('section', { class: 'action-group' }, el('h3', {}, state.node.title), nodeList));
  const sel = view.selection ? view.selection() : null;
  if (sel) {
    const list = allowed(sel.actions);
    if (list.length) pane.append(el('section', { class: 'action-group' }, el('h3', { title: sel.title }, sel.title), el('ul', {}, ...list.map(actionButton))));
  }
  state.elements.statusText.textContent = view.status ? view.status() : '';
}

window.addEventListener('hashchange', () => {
  if (!state) return;
  const [nodeId, tabId] = location.hash.replace(/^#\/?/, '').split('/');
  if (findNode(nodeId) && (state.node.id !== nodeId || state.tab.id !== tabId)) openNode(nodeId, tabId);
});

boot();
