// wizard_list.js — the list with Add / Edit / Remove of the connector
// pages (address spaces, smart hosts, bindings, remote ranges, source
// servers): a listbox of rows with columns, one selected, and buttons;
// "Add" may carry a drop-down menu of several dialogs (remote ranges).
// Must never: change the array it shows except through its buttons, or
// render an entry other than as text.

import { el, clear } from './dom.js';
import { uid, messageSlot } from './wizard_form.js';

// editList({label, columns: [{label, value(entry) -> string}], items (array, edited in place),
//   add(done(entry)) | addMenu: [{label, open(done(entry))}], edit(entry, done(entry)), onChange})
// -> {node, error, refresh()}
export function editList(opts) {
  const items = opts.items;
  let selected = items.length ? 0 : -1;
  const error = messageSlot();
  const labelId = uid('ll');
  const box = el('div', { class: 'wz-list', role: 'listbox', tabindex: '0', 'aria-labelledby': labelId });
  const header = el('div', { class: 'wz-list-head', 'aria-hidden': 'true' },
    opts.columns.map((c) => el('span', { class: 'wz-col' }, c.label)));

  const buttons = el('div', { class: 'wz-list-buttons' });
  const editBtn = el('button', { type: 'button', class: 'btn wz-btn-edit' }, 'Edit...');
  const removeBtn = el('button', { type: 'button', class: 'btn wz-btn-remove', 'aria-label': 'Remove' }, '✕ Remove');
  const menu = el('div', { class: 'wz-menu', role: 'menu' });
  menu.hidden = true;

  function changed() {
    error.set(null);
    if (opts.onChange) opts.onChange(items);
    render();
  }
  function added(entry) {
    if (entry === null || entry === undefined) return;
    items.push(entry);
    selected = items.length - 1;
    changed();
  }

  if (opts.addMenu) {
    const addBtn = el('button', { type: 'button', class: 'btn wz-split-main' }, 'Add...');
    addBtn.addEventListener('click', () => opts.addMenu[0].open(added));
    const arrow = el('button', {
      type: 'button', class: 'btn wz-split-arrow', 'aria-label': 'Add options', 'aria-haspopup': 'menu', 'aria-expanded': 'false',
    }, '▾');
    for (const m of opts.addMenu) {
      const item = el('button', { type: 'button', class: 'wz-menu-item', role: 'menuitem' }, m.label);
      item.addEventListener('click', () => { hideMenu(); m.open(added); });
      menu.append(item);
    }
    const hideMenu = () => { menu.hidden = true; arrow.setAttribute('aria-expanded', 'false'); };
    arrow.addEventListener('click', (ev) => {
      ev.stopPropagation();
      menu.hidden = !menu.hidden;
      arrow.setAttribute('aria-expanded', menu.hidden ? 'false' : 'true');
      if (!menu.hidden) {
        const first = menu.querySelector('button');
        if (first) first.focus();
      }
    });
    menu.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.stopPropagation(); hideMenu(); arrow.focus(); } });
    const onDocClick = () => {
      if (!menu.isConnected) document.removeEventListener('click', onDocClick);
      hideMenu();
    };
    document.addEventListener('click', onDocClick);
    buttons.append(el('span', { class: 'wz-split' }, addBtn, arrow, menu));
  } else {
    const addBtn = el('button', { type: 'button', class: 'btn' }, 'Add...');
    addBtn.addEventListener('click', () => opts.add(added));
    buttons.append(addBtn);
  }
  if (opts.edit) {
    editBtn.addEventListener('click', () => {
      if (selected < 0) return;
      const i = selected;
      opts.edit(items[i], (entry) => {
        if (entry === null || entry === undefined) return;
        items[i] = entry;
        changed();
      });
    });
    buttons.append(editBtn);
  }
  removeBtn.addEventListener('click', () => {
    if (selected < 0) return;
    items.splice(selected, 1);
    selected = Math.min(selected, items.length - 1);
    changed();
  });
  buttons.append(removeBtn);

  box.addEventListener('keydown', (ev) => {
    if (!items.length) return;
    if (ev.key === 'ArrowDown') selected = Math.min(items.length - 1, selected + 1);
    else if (ev.key === 'ArrowUp') selected = Math.max(0, selected - 1);
    else if (ev.key === 'Delete') { removeBtn.click(); return; }
    else return;
    ev.preventDefault();
    render();
  });

  function render() {
    clear(box);
    if (!items.length) box.append(el('div', { class: 'wz-list-empty' }, 'There are no items to show in this view.'));
    box.removeAttribute('aria-activedescendant');
    items.forEach((entry, i) => {
      const row = el('div', {
        id: `${labelId}-${i}`,
        class: i === selected ? 'wz-row wz-selected' : 'wz-row', role: 'option', 'aria-selected': i === selected ? 'true' : 'false',
      }, opts.columns.map((c) => el('span', { class: 'wz-col' }, c.value(entry))));
      if (i === selected) box.setAttribute('aria-activedescendant', row.id);
      row.addEventListener('click', () => { selected = i; render(); box.focus(); });
      row.addEventListener('dblclick', () => { selected = i; render(); if (opts.edit) editBtn.click(); });
      box.append(row);
    });
    editBtn.disabled = selected < 0;
    removeBtn.disabled = selected < 0;
  }
  render();

  const node = el('div', { class: 'wz-listfield' },
    el('div', { class: 'wz-list-label', id: labelId }, opts.label),
    buttons, el('div', { class: 'wz-list-frame' }, header, box), error.node);
  return { node, error, refresh: render };
}
