// Sandstorm shell UI: a small single-page app over the JSON API (shell/API.md).
// No framework and no build step. Every DOM node is built with textContent (never innerHTML),
// so nothing a user or an app names can inject markup; the page runs under a CSP without
// inline scripts or styles.

const HEARTBEAT_MS = 20000;
const TRASH_DAYS = 30;
const FRAME_SANDBOX = 'allow-scripts allow-forms allow-same-origin allow-popups '
  + 'allow-popups-to-escape-sandbox allow-downloads allow-modals';

const state = {
  session: null,      // GET /api/session
  grainSession: null, // { id, timer, anonymous } of the grain shown now
  routeSeq: 0,        // bumped on every route(): a slow view must not paint over a newer one
  returnTo: null,     // where to go after logging in (a share link that needs an account)
  firstRoute: true,
};

// ---- Helpers -------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'value') node.value = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (selector) => document.querySelector(selector);

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Server messages are lower-case fragments ("no such grain"); show them as sentences.
function sentence(text) {
  const t = String(text || '').trim();
  if (!t) return t;
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(s) ? s : `${s}.`;
}

function statusMessage(status) {
  if (status === 413) return 'The file is too large for this server.';
  if (status === 429) return 'Too many attempts. Wait a minute, then try again.';
  if (status >= 500) return `The server had a problem (${status}). Try again; if it persists, check the server's log.`;
  return `The server answered ${status}.`;
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
    if (state.session?.csrf) headers['X-CSRF-Token'] = state.session.csrf;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check that it is running, then try again.');
  }
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    let message = sentence((data && data.error) || statusMessage(res.status));
    if (res.status === 429) {
      const wait = Number(res.headers.get('Retry-After'));
      if (wait > 0) message = `${message} You can try again in ${wait} s.`;
    }
    if (res.status === 401 && state.session?.user) {
      // Our login ended (logged out elsewhere, or everywhere): show the login page.
      state.session = await loadSession();
      toast('Your session ended. Please log in again.', 'error');
      route();
    }
    throw new ApiError(res.status, message);
  }
  return data;
}

async function loadSession() {
  try {
    return await api('GET', '/api/session');
  } catch (e) {
    return { user: null, csrf: null, setupNeeded: false, error: e.message };
  }
}

// A short message at the bottom of the window. It is a popover so that it shows in the top
// layer, above an open modal dialog (a plain fixed element would sit under the backdrop).
function toast(message, kind = 'info') {
  const node = $('[data-toast]');
  const popover = typeof node.showPopover === 'function';
  node.textContent = message;
  node.dataset.kind = kind;
  node.hidden = false;
  if (popover) {
    if (node.matches(':popover-open')) node.hidePopover();
    node.showPopover();  // again: the newest top-layer element is drawn above the others
  }
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    if (popover && node.matches(':popover-open')) node.hidePopover();
    node.hidden = true;
  }, kind === 'error' ? 8000 : 4000);
}

function formatTime(seconds) {
  if (!seconds) return 'never';
  const date = new Date(seconds * 1000);
  const diff = (Date.now() - date.getTime()) / 1000;
  if (diff < 60) return 'just now';
  if (diff < 3600) return `${Math.floor(diff / 60)} min ago`;
  if (diff < 86400) return `${Math.floor(diff / 3600)} h ago`;
  if (diff < 7 * 86400) return `${Math.floor(diff / 86400)} d ago`;
  return date.toLocaleDateString();
}

function timeEl(seconds, prefix = '') {
  if (!seconds) return el('span', { text: `${prefix}never` });
  const date = new Date(seconds * 1000);
  return el('time', { datetime: date.toISOString(), title: date.toLocaleString(), text: `${prefix}${formatTime(seconds)}` });
}

function formatBytes(bytes) {
  if (!bytes) return '0 B';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let n = bytes;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor(s / 3600) % 24;
  const m = Math.floor(s / 60) % 60;
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min`;
  return `${s} s`;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function initial(text) {
  return (String(text || '?').trim()[0] || '?').toUpperCase();
}

function copyText(text, done) {
  const fallback = () => toast(`Copy this: ${text}`);
  if (!navigator.clipboard) { fallback(); return; }
  navigator.clipboard.writeText(text).then(() => toast(done), fallback);
}

function viewName() {
  return location.hash.replace(/^#\/?/, '').split('/')[0] || 'grains';
}

// Paints a view, unless the user has moved on since it started loading.
function render(seq, title, ...children) {
  if (seq !== state.routeSeq) return false;
  const main = $('#main');
  main.replaceChildren(...children.flat().filter(Boolean));
  document.body.dataset.view = viewName();
  document.title = title ? `${title} · Sandstorm` : 'Sandstorm';
  if (!state.firstRoute && document.activeElement === document.body) {
    // After navigating, move focus to the new page's heading so screen readers announce it.
    const heading = main.querySelector('h1');
    if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
  }
  return true;
}

function errorBox(message) {
  return el('p', { class: 'error-box', role: 'alert', text: message });
}

// A form whose submit runs `action`; its buttons are disabled meanwhile and errors show inline.
function asyncForm(form, action) {
  const message = el('p', { class: 'form-error', role: 'alert', hidden: true });
  form.append(message);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    message.hidden = true;
    try {
      await action(new FormData(form));
    } catch (e) {
      message.textContent = e.message;
      message.hidden = false;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  return form;
}

let fieldCount = 0;

// A labelled input; the hint is outside the label (so it is not part of the accessible name)
// and tied to the input as its description.
function field(label, input, hint) {
  const id = input.id || `field-${++fieldCount}`;
  input.id = id;
  const hintNode = hint ? el('span', { class: 'field-hint', id: `${id}-hint`, text: hint }) : null;
  if (hintNode) input.setAttribute('aria-describedby', hintNode.id);
  return el('div', { class: 'field' }, el('label', { class: 'field-label', for: id, text: label }), input, hintNode);
}

function button(text, onclick, cls = 'small-button', attrs = {}) {
  return el('button', { type: 'button', class: cls, text, onclick, ...attrs });
}

// Runs a mutation, reports it, and repaints the current view.
async function run(action, success) {
  try {
    await action();
    if (success) toast(success);
  } catch (e) {
    toast(e.message, 'error');
  }
  route();
}

// ---- Dialogs (native <dialog>: modal, inert background, Escape closes) ---------------------

// Opens a modal dialog built from `content`; resolves with what `finish(value)` is called with,
// or null when it is dismissed. Focus returns to where it was.
function modal(title, buildContent, { wide = false } = {}) {
  const opener = document.activeElement;
  const id = `dialog-title-${Math.random().toString(36).slice(2)}`;
  const dialog = el('dialog', { class: `dialog${wide ? ' wide' : ''}`, 'aria-labelledby': id });
  return new Promise((resolve) => {
    let result = null;
    const finish = (value) => { result = value; dialog.close(); };
    dialog.append(el('div', { class: 'dialog-body' }, el('h2', { id, text: title }), buildContent(finish)));
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(result);
    });
    // A click on the backdrop (outside the dialog box) dismisses it, like Escape.
    dialog.addEventListener('click', (event) => {
      if (event.target !== dialog) return;
      const r = dialog.getBoundingClientRect();
      const inside = event.clientX >= r.left && event.clientX <= r.right && event.clientY >= r.top && event.clientY <= r.bottom;
      if (!inside) dialog.close();
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = dialog.querySelector('[autofocus], input, select, textarea');
    if (first) first.focus();
  });
}

function confirmDialog(title, message, confirmLabel, { danger = false } = {}) {
  return modal(title, (finish) => [
    el('p', { text: message }),
    el('div', { class: 'dialog-actions' },
      button('Cancel', () => finish(false), 'button secondary'),
      button(confirmLabel, () => finish(true), `button${danger ? ' danger' : ''}`, { autofocus: true })),
  ]).then((v) => v === true);
}

function infoDialog(title, message) {
  return modal(title, (finish) => [
    el('p', { text: message }),
    el('div', { class: 'dialog-actions' }, button('OK', () => finish(true), 'button', { autofocus: true })),
  ]);
}

function promptDialog(title, label, value, confirmLabel) {
  return modal(title, (finish) => {
    const input = el('input', { name: 'value', value, required: true, maxlength: 200, autocomplete: 'off' });
    const form = el('form', { class: 'stack' }, field(label, input),
      el('div', { class: 'dialog-actions' },
        button('Cancel', () => finish(null), 'button secondary'),
        el('button', { type: 'submit', class: 'button', text: confirmLabel })));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const v = input.value.trim();
      if (v) finish(v);
    });
    queueMicrotask(() => input.select());
    return form;
  });
}

// ---- Header --------------------------------------------------------------------------------

function renderHeader() {
  const user = state.session?.user;
  $('[data-nav]').hidden = !user;
  $('[data-account]').hidden = !user;
  $('[data-admin-only]').hidden = !user?.isAdmin;
  $('[data-user-name]').textContent = user ? user.name : '';
  $('[data-user-initial]').textContent = user ? initial(user.name) : '';
  const current = viewName() === 'grain' ? 'grains' : viewName();
  for (const link of document.querySelectorAll('[data-route]')) {
    const active = link.dataset.route === current;
    link.classList.toggle('is-current', active);
    if (active) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
}

// ---- Sign-in views -------------------------------------------------------------------------

function authCard(title, lead, ...body) {
  return el('section', { class: 'auth-card panel', 'aria-labelledby': 'auth-title' },
    el('img', { class: 'auth-mark', src: '/favicon.svg', alt: '', width: 44, height: 44 }),
    el('h1', { id: 'auth-title', text: title }),
    lead ? el('p', { class: 'muted', text: lead }) : null,
    ...body);
}

const NAME_PATTERN = '[A-Za-z0-9._\\-]+';
const NAME_HINT = 'Letters, digits, dots, dashes and underscores.';

function passwordInputs() {
  return [
    field('Password', el('input', { name: 'password', type: 'password', required: true, minlength: 10, autocomplete: 'new-password' }), 'At least 10 characters.'),
    field('Password again', el('input', { name: 'password2', type: 'password', required: true, minlength: 10, autocomplete: 'new-password' })),
  ];
}

function checkPasswords(data) {
  if (data.get('password') !== data.get('password2')) throw new Error('The two passwords differ. Type the same password twice.');
}

async function afterLogin() {
  state.session = await loadSession();
  const target = state.returnTo || '#/grains';
  state.returnTo = null;
  if (location.hash === target) route(); else location.hash = target;
}

function loginForm() {
  const form = asyncForm(el('form', { class: 'stack' },
    field('User name', el('input', { name: 'name', required: true, autocomplete: 'username' })),
    field('Password', el('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' })),
    el('button', { class: 'button', type: 'submit', text: 'Log in' })),
  async (data) => {
    await api('POST', '/api/login', { name: data.get('name'), password: data.get('password') });
    await afterLogin();
  });
  return form;
}

function viewLogin(seq) {
  const session = state.session;
  if (session?.setupNeeded) {
    render(seq, 'Welcome', authCard('Welcome to Sandstorm',
      'This server has no account yet.',
      el('div', { class: 'notice' },
        el('p', {}, el('strong', { text: 'Open the setup link printed in the server\'s console' }),
          ' when it started, to create the administrator account.'),
        el('p', { class: 'muted' }, 'Lost it? Run ', el('code', { text: 'sandstorm admin-token' }), ' on the server for a new one.'))));
    return;
  }
  const form = loginForm();
  render(seq, 'Log in', authCard('Log in', session?.error || 'Log in to see your grains and apps.', form,
    el('p', { class: 'muted small', text: 'No account? Ask this server\'s administrator for an invite link.' })));
  form.querySelector('input').focus();
}

function viewSetup(seq, token) {
  if (state.session?.user) { location.hash = '#/grains'; return; }
  if (state.session && !state.session.setupNeeded && !state.session.error) {
    render(seq, 'Set up', authCard('This server is already set up',
      'Its administrator account exists. Log in instead.',
      el('a', { class: 'button', href: '#/grains', text: 'Go to the login page' })));
    return;
  }
  const form = asyncForm(el('form', { class: 'stack' },
    field('Administrator name', el('input', { name: 'name', required: true, maxlength: 64, pattern: NAME_PATTERN, autocomplete: 'username', title: NAME_HINT }), NAME_HINT),
    ...passwordInputs(),
    el('button', { class: 'button', type: 'submit', text: 'Create the administrator account' })),
  async (data) => {
    checkPasswords(data);
    await api('POST', '/api/setup', { token, name: data.get('name'), password: data.get('password') });
    toast('Welcome! Your server is ready.');
    await afterLogin();
  });
  render(seq, 'Set up', authCard('Set up your server', 'Create the first account. It can install apps and invite other people.', form));
  form.querySelector('input').focus();
}

async function viewInvite(seq, token) {
  const check = await api('GET', `/api/invites/${encodeURIComponent(token)}`).catch(() => ({ valid: false }));
  if (!check.valid) {
    render(seq, 'Invite', authCard('This invite does not work', 'It was used already or has expired. Ask the person who sent it for a new one.',
      state.session?.user ? el('a', { class: 'button', href: '#/grains', text: 'Go to your grains' }) : null));
    return;
  }
  const form = asyncForm(el('form', { class: 'stack' },
    field('Choose a user name', el('input', { name: 'name', required: true, maxlength: 64, pattern: NAME_PATTERN, autocomplete: 'username', title: NAME_HINT }), NAME_HINT),
    ...passwordInputs(),
    el('button', { class: 'button', type: 'submit', text: 'Create my account' })),
  async (data) => {
    checkPasswords(data);
    await api('POST', '/api/signup', { invite: token, name: data.get('name'), password: data.get('password') });
    toast('Welcome! Your account is ready.');
    await afterLogin();
  });
  const lead = state.session?.user
    ? `You are logged in as ${state.session.user.name}. Log out first to create another account with this invite.`
    : 'Create your account on this server.';
  if (render(seq, 'Invite', authCard('You are invited', lead, state.session?.user ? null : form))) {
    form.querySelector('input').focus();
  }
}

// ---- Grains --------------------------------------------------------------------------------

async function viewGrains(seq, trash) {
  const [grains, apps, trashed] = await Promise.all([
    api('GET', trash ? '/api/grains?trash=1' : '/api/grains'),
    trash ? Promise.resolve([]) : api('GET', '/api/apps'),
    trash ? Promise.resolve(null) : api('GET', '/api/grains?trash=1').catch(() => null),
  ]);
  const actions = apps.flatMap((app) => app.actions.map((action) => ({ app, action })));
  const create = trash ? null : el('section', { class: 'new-grain', 'aria-labelledby': 'create-title' },
    el('h2', { id: 'create-title', class: 'subhead', text: 'Create a grain' }),
    actions.length === 0
      ? el('p', { class: 'muted' }, 'No apps are installed yet. ', el('a', { href: '#/apps', text: 'Install one' }), ' to create your first grain.')
      : el('div', { class: 'action-grid' }, actions.map(({ app, action }) =>
        el('button', { class: 'action-card', type: 'button', onclick: (e) => createGrain(app, action, e.currentTarget) },
          el('span', { class: 'item-icon', 'aria-hidden': 'true', text: initial(app.title) }),
          el('span', { class: 'action-text' },
            el('strong', { text: action.title }),
            el('span', { class: 'muted', text: app.title }))))));

  let list;
  if (grains.length === 0) {
    list = el('div', { class: 'empty-state' },
      el('div', { class: 'empty-icon', 'aria-hidden': 'true' }),
      el('h3', { text: trash ? 'The trash is empty' : 'No grains yet' }),
      el('p', { text: trash
        ? `Grains you move to the trash stay here for ${TRASH_DAYS} days, then they are deleted for good.`
        : 'A grain is one document or app instance, such as a notebook or a chat room, running privately in its own sandbox. Create one above.' }));
  } else {
    list = el('ul', { class: 'item-list grain-list' }, grains.map((g) => grainRow(g, trash)));
  }
  const trashCount = trashed ? trashed.length : 0;
  render(seq, trash ? 'Trash' : 'Grains',
    el('div', { class: 'page-head' },
      el('h1', { text: trash ? 'Trash' : 'Your grains' }),
      trash
        ? el('a', { class: 'link-button', href: '#/grains', text: '← Back to grains' })
        : el('a', { class: 'link-button', href: '#/grains/trash' }, 'Trash', trashCount ? el('span', { class: 'count', text: String(trashCount) }) : null)),
    trash ? el('p', { class: 'muted page-lead', text: `Grains here are deleted for good ${TRASH_DAYS} days after you trash them.` }) : null,
    create,
    trash ? null : restoreControl(),
    el('section', { class: 'panel', 'aria-label': trash ? 'Grains in the trash' : 'Grains' }, list));
}

function grainRow(g, trash) {
  const title = trash ? el('span', { class: 'item-title', text: g.title })
    : el('a', { class: 'item-title', href: `#/grain/${encodeURIComponent(g.id)}`, text: g.title });
  const meta = el('span', { class: 'item-meta' },
    el('span', { text: g.appTitle }),
    trash ? timeEl(g.trashedAt, 'trashed ') : timeEl(g.lastOpenedAt, 'opened '),
    el('span', { text: formatBytes(g.sizeBytes) }),
    g.running ? el('span', { class: 'running', text: 'running' }) : null,
    g.owner === false ? el('span', { text: 'shared with you' }) : null);
  const actions = trash
    ? [
      button('Restore', () => run(() => api('POST', `/api/grains/${g.id}/restore`), `"${g.title}" is back in your grains.`),
        'small-button', { 'aria-label': `Restore ${g.title}` }),
      button('Delete forever', async () => {
        const ok = await confirmDialog('Delete for good?', `"${g.title}" and all its data will be deleted. This cannot be undone.`, 'Delete forever', { danger: true });
        if (ok) await run(() => api('DELETE', `/api/grains/${g.id}`), `"${g.title}" was deleted.`);
      }, 'small-button danger', { 'aria-label': `Delete ${g.title} forever` }),
    ]
    : [
      button('Rename', () => renameGrain(g), 'small-button', { 'aria-label': `Rename ${g.title}` }),
      button('Move to trash', () => run(() => api('POST', `/api/grains/${g.id}/trash`),
        `"${g.title}" moved to the trash.`), 'small-button', { 'aria-label': `Move ${g.title} to the trash` }),
    ];
  return el('li', { class: 'item' },
    el('span', { class: 'item-icon', 'aria-hidden': 'true', text: initial(g.appTitle) }),
    el('div', { class: 'item-body' }, title, meta),
    el('div', { class: 'item-actions' }, actions));
}

async function renameGrain(g) {
  const name = await promptDialog('Rename grain', 'Name', g.title, 'Rename');
  if (name && name !== g.title) await run(() => api('PATCH', `/api/grains/${g.id}`, { title: name }), 'Renamed.');
}

// "Restore from a backup": a file from a grain's "Download backup" becomes a new grain.
function restoreControl() {
  const input = el('input', { type: 'file', accept: '.zst,application/zstd', class: 'visually-hidden', id: 'backup-file' });
  const status = el('span', { class: 'muted small', role: 'status' });
  input.addEventListener('change', () => {
    const file = input.files[0];
    if (!file) return;
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/grains/restore');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('X-CSRF-Token', state.session?.csrf || '');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) status.textContent = `Uploading… ${Math.round((e.loaded / e.total) * 100)} %`;
    };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      input.value = '';
      if (xhr.status === 201 && data?.grain) {
        status.textContent = '';
        toast(`Restored as "${data.grain.title}".`);
        location.hash = `#/grain/${data.grain.id}`;
      } else {
        status.textContent = '';
        toast((data && data.error) || `The restore failed (${xhr.status}).`, 'error');
      }
    };
    xhr.onerror = () => { status.textContent = ''; toast('The upload failed: the connection was lost.', 'error'); };
    status.textContent = 'Uploading…';
    xhr.send(file);
  });
  return el('p', { class: 'restore-row' },
    el('label', { for: 'backup-file', class: 'link-button', tabindex: 0, role: 'button',
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } } },
    'Restore a grain from a backup…'), input, ' ', status);
}

async function createGrain(app, action, trigger) {
  if (trigger) trigger.disabled = true;
  try {
    const { grain } = await api('POST', '/api/grains', { appId: app.appId, actionIndex: action.index, title: `Untitled ${action.title.replace(/^New\s+/i, '')}` });
    location.hash = `#/grain/${encodeURIComponent(grain.id)}`;
  } catch (e) {
    toast(e.message, 'error');
  } finally {
    if (trigger) trigger.disabled = false;
  }
}

// ---- One grain -----------------------------------------------------------------------------

function deleteGrainSession(id) {
  fetch(`/api/grain-sessions/${encodeURIComponent(id)}`, {
    method: 'DELETE', keepalive: true, credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': state.session?.csrf || '' },
    body: '{}',
  }).catch(() => {});
}

function endGrainSession() {
  const s = state.grainSession;
  if (!s) return;
  clearInterval(s.timer);
  state.grainSession = null;
  deleteGrainSession(s.id);
}

async function heartbeat() {
  const s = state.grainSession;
  if (!s) return;
  try {
    await api('POST', `/api/grain-sessions/${encodeURIComponent(s.id)}/heartbeat`);
  } catch (e) {
    if (state.grainSession !== s) return;
    if (e.status === 410 || e.status === 404) {
      clearInterval(s.timer);
      state.grainSession = null;
      const banner = $('[data-session-ended]');
      if (banner) banner.hidden = false;
    }
    // Other failures (a network blip) are retried by the next beat.
  }
}

function startHeartbeat(sessionId) {
  endGrainSession();
  state.grainSession = { id: sessionId, timer: setInterval(heartbeat, HEARTBEAT_MS) };
}

function usageList(usage) {
  const rows = [
    ['State', usage.running ? 'running' : 'stopped'],
    usage.memoryBytes !== undefined ? ['Memory', formatBytes(usage.memoryBytes)] : null,
    usage.diskBytes !== undefined ? ['Disk', formatBytes(usage.diskBytes)] : null,
    usage.starts !== undefined ? ['Starts', String(usage.starts)] : null,
    usage.oomKills ? ['Out of memory', plural(usage.oomKills, 'time')] : null,
    usage.lastExit ? ['Last exit', String(usage.lastExit)] : null,
  ].filter(Boolean);
  return rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]);
}

function detailsPanel(grainId, title) {
  const dl = el('dl', { class: 'usage' });
  const log = el('pre', { class: 'log', tabindex: 0, 'aria-label': 'Grain log' });
  const status = el('p', { class: 'muted small', 'aria-live': 'polite' });
  const load = async () => {
    status.textContent = 'Loading…';
    try {
      const [usage, text] = await Promise.all([
        api('GET', `/api/grains/${grainId}/usage`),
        api('GET', `/api/grains/${grainId}/log`),
      ]);
      dl.replaceChildren(...usageList(usage));
      log.textContent = typeof text === 'string' ? text : JSON.stringify(text);
      log.scrollTop = log.scrollHeight;
      status.textContent = '';
    } catch (e) {
      status.textContent = e.message;
    }
  };
  const details = el('details', { class: 'grain-details' },
    el('summary', { class: 'small-button' }, 'Log & usage'),
    el('div', { class: 'details-body' },
      el('div', { class: 'details-head' },
        el('h2', { class: 'subhead', text: 'Usage' }),
        button('Refresh', load)),
      dl, status,
      el('h2', { class: 'subhead', text: 'Log' }),
      log,
      el('div', { class: 'details-actions' },
        el('a', { class: 'small-button', href: `/api/grains/${encodeURIComponent(grainId)}/backup`, download: `${title}.zst`, text: 'Download backup' }),
        button('Move to trash', async () => {
          const ok = await confirmDialog('Move to trash?', `"${title}" will close and move to the trash. You can restore it for ${TRASH_DAYS} days.`, 'Move to trash');
          if (!ok) return;
          try {
            await api('POST', `/api/grains/${grainId}/trash`);
            toast(`"${title}" moved to the trash.`);
            location.hash = '#/grains';
          } catch (e) { toast(e.message, 'error'); }
        }, 'small-button danger'))));
  details.addEventListener('toggle', () => { if (details.open) load(); });
  // Escape closes the panel and returns focus to its summary.
  details.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && details.open) { details.open = false; details.querySelector('summary').focus(); }
  });
  return details;
}

function titleEditor(opened, grainId) {
  let saved = opened.title;
  const input = el('input', { class: 'grain-title', value: saved, 'aria-label': 'Grain name (press Enter to rename)', maxlength: 200, spellcheck: 'false' });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') { event.preventDefault(); input.blur(); }
    if (event.key === 'Escape') { input.value = saved; input.blur(); }
  });
  input.addEventListener('change', async () => {
    const name = input.value.trim();
    if (!name) { input.value = saved; return; }
    if (name === saved) return;
    try {
      await api('PATCH', `/api/grains/${grainId}`, { title: name });
      saved = name;
      document.title = `${name} · Sandstorm`;
      $('iframe.grain-frame')?.setAttribute('title', name);
      toast('Renamed.');
    } catch (e) {
      input.value = saved;
      toast(e.message, 'error');
    }
  });
  return input;
}

function roleLabel(role) {
  return role === 'owner' ? 'owner' : String(role ?? '');
}

function grainView(seq, opened, { owner, grainId, appTitle }) {
  const loggedIn = !!state.session?.user;
  const heading = el('div', { class: 'grain-heading' },
    owner ? titleEditor(opened, grainId) : el('h1', { class: 'grain-title', text: opened.title }),
    appTitle ? el('span', { class: 'grain-app', text: appTitle }) : null);
  // The grain view has no visible h1 when the title is an input: give it one for screen readers.
  const srHeading = owner ? el('h1', { class: 'visually-hidden', text: opened.title }) : null;
  const bar = el('div', { class: `grain-bar${owner ? ' is-owner' : ''}` },
    loggedIn ? el('a', { class: 'back-link', href: '#/grains', 'aria-label': 'Back to grains' },
      el('span', { 'aria-hidden': 'true', text: '←' }), el('span', { class: 'back-text', text: 'Grains' })) : null,
    heading,
    el('div', { class: 'grain-tools' },
      opened.role ? el('span', { class: 'role-badge', title: 'Your access to this grain', text: roleLabel(opened.role) }) : null,
      owner ? button('Share', () => openShareDialog(grainId, opened.title), 'button compact') : null,
      owner ? detailsPanel(grainId, opened.title) : null,
      !loggedIn ? el('a', { class: 'small-button', href: '#/login', text: 'Log in',
        onclick: () => { state.returnTo = location.hash; } }) : null));
  const ended = el('div', { class: 'session-ended', role: 'alert', 'data-session-ended': '', hidden: true },
    el('span', { text: 'This grain session has ended, so the app may stop answering.' }),
    button('Open again', () => route(), 'small-button'));
  const frame = el('iframe', {
    class: 'grain-frame',
    src: opened.url,
    title: opened.title,
    sandbox: FRAME_SANDBOX,
    allow: 'clipboard-write',
    referrerpolicy: 'no-referrer',
  });
  if (!render(seq, opened.title, el('div', { class: 'grain-view' }, srHeading, bar, ended, frame))) {
    deleteGrainSession(opened.sessionId);  // the user left while it was opening
    return;
  }
  startHeartbeat(opened.sessionId);
}

function cannotOpen(seq, title, message, loggedIn) {
  render(seq, title, authCard(title, message,
    loggedIn ? el('a', { class: 'button', href: '#/grains', text: 'Go to your grains' }) : null));
}

async function viewGrain(seq, id) {
  render(seq, 'Opening', el('p', { class: 'loading', text: 'Opening…' }));
  let opened;
  let grains = [];
  try {
    [opened, grains] = await Promise.all([
      api('POST', `/api/grains/${encodeURIComponent(id)}/open`),
      api('GET', '/api/grains').catch(() => []),
    ]);
  } catch (e) {
    if (e.status === 401) throw e;
    cannotOpen(seq, 'This grain cannot be opened', e.message, true);
    return;
  }
  const grain = grains.find((g) => g.id === id);
  // Grains shared with you open with the link's role: no renaming, sharing or trashing.
  const owner = grain ? grain.owner !== false : true;
  grainView(seq, opened, { owner, grainId: owner ? id : undefined, appTitle: grain?.appTitle });
}

async function viewShare(seq, token) {
  let info;
  try {
    info = await api('GET', `/api/shares/${encodeURIComponent(token)}`);
  } catch (e) {
    const message = e.status === 404
      ? 'It was revoked by the person who shared it, or the grain was deleted. Ask them for a new link.'
      : e.message;
    cannotOpen(seq, 'This link does not work', message, !!state.session?.user);
    return;
  }
  if (info.needsLogin) {
    state.returnTo = location.hash;
    const form = loginForm();
    if (render(seq, info.grainTitle, authCard(`"${info.grainTitle}" was shared with you`,
      `Log in to open this ${info.appTitle} grain (${info.roleTitle}).`, form))) form.querySelector('input').focus();
    return;
  }
  render(seq, info.grainTitle, el('p', { class: 'loading', text: `Opening "${info.grainTitle}"…` }));
  try {
    const opened = await api('POST', `/api/shares/${encodeURIComponent(token)}/open`);
    if (!opened.role) opened.role = info.roleTitle;
    grainView(seq, opened, { owner: false, appTitle: info.appTitle });
  } catch (e) {
    cannotOpen(seq, 'This link does not work', e.message, !!state.session?.user);
  }
}

// ---- Sharing dialog ------------------------------------------------------------------------

async function openShareDialog(grainId, title) {
  let roles;
  try {
    roles = await api('GET', `/api/grains/${grainId}/roles`);
  } catch (e) { toast(e.message, 'error'); return; }
  await modal(`Share "${title}"`, (finish) => {
    const select = el('select', { name: 'role', required: true },
      roles.map((r) => el('option', { value: String(r.index), text: r.title })));
    // Default to the least powerful role: sharing more should be a choice.
    select.value = String(roles[roles.length - 1].index);
    const label = el('input', { name: 'label', maxlength: 200, autocomplete: 'off', placeholder: 'e.g. for Bob' });
    const anonymous = el('input', { type: 'checkbox', name: 'anonymous', checked: true });
    const linkInput = el('input', { readonly: true, 'aria-label': 'Sharing link', class: 'mono' });
    const result = el('div', { class: 'share-result', hidden: true, role: 'status' },
      el('p', { class: 'small', text: 'Copy this link and send it. Anyone who has it gets the role you chose.' }),
      el('div', { class: 'copy-row' }, linkInput,
        button('Copy', () => copyText(linkInput.value, 'Link copied.'), 'button secondary', { 'aria-label': 'Copy the link' })));
    const list = el('ul', { class: 'share-list', 'aria-live': 'polite' });
    const loadShares = async () => {
      let shares;
      try { shares = await api('GET', `/api/grains/${grainId}/shares`); } catch (e) {
        list.replaceChildren(el('li', { class: 'form-error', text: e.message }));
        return;
      }
      const active = shares.filter((s) => !s.revokedAt);
      list.replaceChildren(...(active.length === 0
        ? [el('li', { class: 'muted', text: 'No links yet: only you can open this grain.' })]
        : active.map((s) => el('li', { class: 'share-item' },
          el('div', { class: 'share-text' },
            el('strong', { text: s.label || 'Unlabelled link' }),
            el('span', { class: 'item-meta' },
              el('span', { text: s.roleTitle }),
              el('span', { text: s.anonymous ? 'no login needed' : 'account needed' }),
              timeEl(s.createdAt, 'created '))),
          button('Revoke', async (event) => {
            event.currentTarget.disabled = true;
            try {
              await api('DELETE', `/api/shares/${s.id}`);
              toast('Link revoked: it stops working now.');
            } catch (e) { toast(e.message, 'error'); }
            await loadShares();
            list.closest('dialog')?.querySelector('select')?.focus();
          }, 'small-button danger', { 'aria-label': `Revoke ${s.label || 'link'} (${s.roleTitle})` })))));
    };
    const form = asyncForm(el('form', { class: 'stack' },
      el('p', { class: 'muted', text: 'Anyone who opens the link gets the role you choose. You can revoke it at any time.' }),
      el('div', { class: 'field-row' },
        field('Role', select),
        field('Label', label, 'Who is it for? Only you see this.')),
      el('label', { class: 'check' }, anonymous, el('span', { text: 'Anyone with the link can open it, without logging in' })),
      el('div', { class: 'form-actions' }, el('button', { type: 'submit', class: 'button', text: 'Create link' }))),
    async (data) => {
      const share = await api('POST', `/api/grains/${grainId}/shares`, {
        role: Number(data.get('role')), label: String(data.get('label') || '').trim(), anonymous: anonymous.checked,
      });
      linkInput.value = share.url;
      result.hidden = false;
      linkInput.focus();
      linkInput.select();
      linkInput.scrollLeft = 0;
      await loadShares();
    });
    loadShares();
    return [form, result,
      el('h3', { class: 'subhead', text: 'Who has access' }), list,
      el('div', { class: 'dialog-actions' }, button('Close', () => finish(null), 'button secondary'))];
  }, { wide: true });
}

// ---- Apps ----------------------------------------------------------------------------------

async function viewApps(seq) {
  const apps = await api('GET', '/api/apps');
  const list = apps.length === 0
    ? el('div', { class: 'empty-state' },
      el('div', { class: 'empty-icon', 'aria-hidden': 'true' }),
      el('h3', { text: 'No apps installed yet' }),
      el('p', { text: 'Create documents, chat rooms, sites and more: install an app above. Apps arrive as .spk packages, signed archives that bundle an app with everything it needs.' }))
    : el('ul', { class: 'item-list' }, apps.map(appRow));
  render(seq, 'Apps',
    el('div', { class: 'page-head' }, el('h1', { text: 'Apps' })),
    uploadPanel(),
    el('section', { class: 'panel', 'aria-labelledby': 'installed-title' },
      el('h2', { id: 'installed-title', class: 'subhead', text: `Installed (${apps.length})` }), list));
}

function uploadPanel() {
  const input = el('input', { type: 'file', accept: '.spk,application/octet-stream', id: 'spk-file', class: 'file-input', 'aria-describedby': 'upload-help' });
  const progress = el('progress', { max: 100, value: 0, 'aria-label': 'Upload progress' });
  const percent = el('span', { class: 'progress-text', text: '0%' });
  const cancel = button('Cancel', null, 'small-button');
  const progressRow = el('div', { class: 'progress-row', hidden: true }, progress, percent, cancel);
  const status = el('p', { class: 'upload-status', 'aria-live': 'polite' });
  const error = el('div', { class: 'error-box', role: 'alert', hidden: true });
  const zone = el('label', { class: 'drop-zone', for: 'spk-file' },
    el('span', { class: 'drop-icon', 'aria-hidden': 'true' }),
    el('span', { class: 'drop-text' }, el('strong', { text: 'Choose a .spk file' }), el('span', { class: 'muted', text: ' or drop it here' })));
  const ui = { input, zone, progress, percent, cancel, progressRow, status, error };
  input.addEventListener('change', () => { if (input.files[0]) uploadApp(input.files[0], ui); });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('is-dragging'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('is-dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('is-dragging');
    const file = e.dataTransfer?.files?.[0];
    if (file) uploadApp(file, ui);
  });
  return el('section', { class: 'panel upload', 'aria-labelledby': 'upload-title' },
    el('h2', { id: 'upload-title', class: 'subhead', text: 'Install an app' }),
    el('p', { id: 'upload-help', class: 'muted', text: 'Upload a signed .spk package. A newer version of an installed app (same signing key) waits for you to confirm the upgrade; an older one is refused.' }),
    input, zone, progressRow, status, error);
}

function uploadApp(file, ui) {
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/apps');
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  xhr.setRequestHeader('X-CSRF-Token', state.session?.csrf || '');
  const done = () => {
    ui.progressRow.hidden = true;
    ui.input.disabled = false;
    ui.zone.classList.remove('is-busy');
    ui.input.value = '';
  };
  const fail = (message) => {
    done();
    ui.status.textContent = '';
    ui.error.replaceChildren(el('strong', { text: `${file.name} was not installed. ` }), message);
    ui.error.hidden = false;
  };
  ui.error.hidden = true;
  const toastNode = $('[data-toast]');
  if (typeof toastNode.hidePopover === 'function' && toastNode.matches(':popover-open')) toastNode.hidePopover();
  toastNode.hidden = true;
  ui.progressRow.hidden = false;
  ui.input.disabled = true;
  ui.zone.classList.add('is-busy');
  ui.progress.value = 0;
  ui.percent.textContent = '0%';
  ui.status.textContent = `Uploading ${file.name} (${formatBytes(file.size)})…`;
  ui.cancel.disabled = false;
  ui.cancel.onclick = () => xhr.abort();
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    const p = Math.round((e.loaded / e.total) * 100);
    ui.progress.value = p;
    ui.percent.textContent = `${p}%`;
  };
  xhr.upload.onload = () => {
    ui.progress.value = 100;
    ui.percent.textContent = '100%';
    ui.cancel.disabled = true;
    ui.status.textContent = 'Checking the signature and unpacking…';
  };
  xhr.onabort = () => { done(); ui.status.textContent = 'Upload cancelled.'; };
  xhr.onerror = () => fail('The connection was lost during the upload. Try again.');
  xhr.onload = () => {
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 401) { fail('Your session ended. Log in again.'); return; }
    if (xhr.status < 200 || xhr.status >= 300) {
      fail(sentence((data && data.error) || statusMessage(xhr.status)));
      return;
    }
    done();
    const title = data?.app?.title || file.name;
    const messages = {
      installed: `${title} is installed.`,
      'already-installed': `${title} was already installed.`,
      'upgrade-pending': `A new version of ${title} is ready: confirm the upgrade below.`,
    };
    const message = messages[data?.result] || 'Done.';
    toast(message);
    route().then(() => {
      const s = $('.upload-status');
      if (s) s.textContent = message;
    });
  };
  xhr.send(file);
}

function appRow(app) {
  const isAdmin = state.session?.user?.isAdmin;
  const version = `version ${app.marketingVersion || app.version}`;
  const pending = app.pendingUpgrade;
  return el('li', { class: 'item app-item' },
    el('span', { class: 'item-icon', 'aria-hidden': 'true', text: initial(app.title) }),
    el('div', { class: 'item-body' },
      el('span', { class: 'item-title', text: app.title }),
      app.description && app.description !== app.title ? el('span', { class: 'item-desc', text: app.description }) : null,
      el('span', { class: 'item-meta' },
        el('span', { text: version }),
        el('span', { text: plural(app.grainCount, 'grain') }),
        el('span', { class: 'app-id' }, 'ID ', el('code', { title: app.appId, text: `${app.appId.slice(0, 12)}…` }),
          button('Copy', () => copyText(app.appId, 'App ID copied.'), 'copy-button', { 'aria-label': `Copy the app ID of ${app.title}`, title: 'Copy the full app ID' }))),
      pending ? el('div', { class: 'upgrade-banner', role: 'status' },
        el('span', {}, el('strong', { text: 'Upgrade ready: ' }),
          `version ${pending.marketingVersion || pending.version} was uploaded. `,
          isAdmin ? 'Running grains restart on it when you upgrade.' : 'An administrator can confirm it.'),
        isAdmin ? button('Upgrade now', async () => {
          const ok = await confirmDialog(`Upgrade ${app.title}?`,
            `${app.title} goes from ${app.marketingVersion || app.version} to ${pending.marketingVersion || pending.version}. `
            + (app.grainCount ? `Its ${plural(app.grainCount, 'grain')} will run the new version; running ones restart.` : 'It has no grains yet.'), 'Upgrade');
          if (ok) await run(() => api('POST', `/api/apps/${app.appId}/upgrade`, { packageId: pending.packageId }), `${app.title} upgraded.`);
        }, 'small-button primary') : null) : null),
    el('div', { class: 'item-actions' },
      app.actions.map((a) => button(a.title, (e) => createGrain(app, a, e.currentTarget), 'small-button')),
      isAdmin ? button('Uninstall', async () => {
        if (app.grainCount > 0) {
          await infoDialog(`${app.title} still has grains`,
            `Uninstalling would leave ${plural(app.grainCount, 'grain')} without an app. Move them to the trash and delete them forever first.`);
          return;
        }
        const ok = await confirmDialog(`Uninstall ${app.title}?`, 'You can install it again later from its .spk file.', 'Uninstall', { danger: true });
        if (ok) await run(() => api('DELETE', `/api/apps/${app.appId}`), `${app.title} uninstalled.`);
      }, 'small-button danger', { 'aria-label': `Uninstall ${app.title}` }) : null));
}

// ---- Admin ---------------------------------------------------------------------------------

async function viewAdmin(seq) {
  if (!state.session?.user?.isAdmin) {
    render(seq, 'Admin', el('div', { class: 'page-head' }, el('h1', { text: 'Administration' })),
      errorBox('Only an administrator can see this page.'));
    return;
  }
  const [status, users] = await Promise.all([api('GET', '/api/admin/status'), api('GET', '/api/users')]);
  const inviteInput = el('input', { readonly: true, 'aria-label': 'Invite link', class: 'mono' });
  const inviteOut = el('div', { class: 'share-result', hidden: true, role: 'status' },
    el('p', { class: 'small', text: 'Send this link to the person you invite. It creates one account.' }),
    el('div', { class: 'copy-row' }, inviteInput,
      button('Copy', () => copyText(inviteInput.value, 'Invite link copied.'), 'button secondary', { 'aria-label': 'Copy the invite link' })));
  const stats = [
    ['Users', status.users], ['Apps', status.apps], ['Grains', status.grains], ['Running now', status.grainsRunning],
  ];
  render(seq, 'Admin',
    el('div', { class: 'page-head' }, el('h1', { text: 'Administration' })),
    el('section', { class: 'stat-grid', 'aria-label': 'Server statistics' },
      stats.map(([k, v]) => el('div', { class: 'stat' }, el('span', { class: 'stat-value', text: String(v) }), el('span', { class: 'stat-label', text: k })))),
    el('section', { class: 'panel', 'aria-labelledby': 'server-title' },
      el('h2', { id: 'server-title', class: 'subhead', text: 'Server' }),
      el('dl', { class: 'usage' },
        el('dt', { text: 'Version' }), el('dd', { text: String(status.version) }),
        el('dt', { text: 'Up for' }), el('dd', { text: formatDuration(status.uptimeSeconds) }),
        el('dt', { text: 'Data directory' }), el('dd', {}, el('code', { text: String(status.dataDir) })))),
    el('section', { class: 'panel', 'aria-labelledby': 'people-title' },
      el('div', { class: 'panel-head' },
        el('h2', { id: 'people-title', class: 'subhead', text: `People (${users.length})` }),
        button('Create an invite link', async (e) => {
          e.currentTarget.disabled = true;
          try {
            const invite = await api('POST', '/api/invites');
            inviteOut.hidden = false;
            inviteInput.value = invite.url;
            inviteInput.focus();
            inviteInput.select();
          } catch (err) { toast(err.message, 'error'); }
          e.target.disabled = false;
        }, 'button compact')),
      inviteOut,
      el('ul', { class: 'item-list' }, users.map((u) => el('li', { class: 'item' },
        el('span', { class: 'item-icon', 'aria-hidden': 'true', text: initial(u.name) }),
        el('div', { class: 'item-body' }, el('span', { class: 'item-title' }, u.name,
          u.id === state.session.user.id ? el('span', { class: 'muted', text: ' (you)' }) : null),
        el('span', { class: 'item-meta' }, el('span', { text: u.isAdmin ? 'administrator' : 'user' }), timeEl(u.createdAt, 'joined '))))))));
}

// ---- Router --------------------------------------------------------------------------------

async function route() {
  const seq = ++state.routeSeq;
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const [view, arg] = parts;
  if (view !== 'grain' && view !== 'share') endGrainSession();
  renderHeader();
  try {
    if (view === 'setup') return viewSetup(seq, arg);
    if (view === 'invite') return await viewInvite(seq, arg);
    if (view === 'share' && arg) return await viewShare(seq, arg);
    if (!state.session?.user) return viewLogin(seq);
    if (view === 'login') { location.replace('#/grains'); return undefined; }
    if (view === 'apps') return await viewApps(seq);
    if (view === 'admin') return await viewAdmin(seq);
    if (view === 'grain' && arg) return await viewGrain(seq, decodeURIComponent(arg));
    if (view === 'grains' && arg === 'trash') return await viewGrains(seq, true);
    if (view && view !== 'grains') {
      return render(seq, 'Not found', authCard('Page not found', 'There is nothing at this address in Sandstorm.',
        el('a', { class: 'button', href: '#/grains', text: 'Go to your grains' })));
    }
    return await viewGrains(seq, false);
  } catch (e) {
    if (e.status === 401) return undefined;  // api() already switched to the login page
    render(seq, 'Error', el('div', { class: 'page-head' }, el('h1', { text: 'Something went wrong' })),
      errorBox(e.message), button('Try again', () => route(), 'button'));
  } finally {
    if (seq === state.routeSeq) {
      document.body.dataset.shell = 'ready';
      state.firstRoute = false;
    }
  }
  return undefined;
}

function wireStatic() {
  $('[data-action="logout"]').addEventListener('click', async () => {
    $('[data-account]').open = false;
    endGrainSession();
    await api('POST', '/api/logout').catch(() => {});
    state.session = await loadSession();
    location.hash = '#/';
    route();
  });
  $('[data-action="logout-everywhere"]').addEventListener('click', async () => {
    $('[data-account]').open = false;
    const ok = await confirmDialog('Log out everywhere?', 'Every session of your account ends, on all devices, including this one.', 'Log out everywhere');
    if (!ok) return;
    endGrainSession();
    await api('POST', '/api/logout-everywhere').catch(() => {});
    state.session = await loadSession();
    location.hash = '#/';
    route();
  });
  const account = $('[data-account]');
  account.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && account.open) { account.open = false; account.querySelector('summary').focus(); }
  });
  document.addEventListener('click', (event) => {
    if (account.open && !account.contains(event.target)) account.open = false;
    const details = $('details.grain-details[open]');
    if (details && !details.contains(event.target)) details.open = false;
  });
  window.addEventListener('hashchange', () => { account.open = false; route(); });
  window.addEventListener('pagehide', endGrainSession);
  // Back from the back/forward cache: the grain session was ended on pagehide; open it again.
  window.addEventListener('pageshow', (event) => {
    if (event.persisted && (viewName() === 'grain' || viewName() === 'share')) route();
  });
  // Background tabs throttle timers: beat at once when the tab is shown again.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') heartbeat();
  });
}

async function main() {
  wireStatic();
  state.session = await loadSession();
  if (!location.hash || location.hash === '#' || location.hash === '#/') history.replaceState(null, '', '#/grains');
  await route();
}

main();
