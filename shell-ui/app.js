// Sandstorm shell UI: a small single-page app over the JSON API (shell/API.md).
// No framework and no build step; every DOM node is built with textContent (never innerHTML),
// so nothing a user or an app names can inject markup.

const HEARTBEAT_MS = 20000;

const state = {
  session: null,      // GET /api/session
  grainSession: null, // { id, timer } of the grain shown now
};

// ---- Helpers -------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
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
    const message = (data && data.error) || `The server answered ${res.status}.`;
    if (res.status === 401 && state.session?.user) {
      // Our login ended (logged out elsewhere): show the login page.
      state.session = await loadSession();
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

function toast(message, kind = 'info') {
  const node = $('[data-toast]');
  node.textContent = message;
  node.dataset.kind = kind;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, kind === 'error' ? 8000 : 4000);
}

function formatTime(seconds) {
  if (!seconds) return 'never';
  const date = new Date(seconds * 1000);
  const diff = (Date.now() - date.getTime()) / 1000;
  if (diff < 60) return 'just now';
  if (diff < 3600) return `${Math.floor(diff / 60)} min ago`;
  if (diff < 86400) return `${Math.floor(diff / 3600)} h ago`;
  return date.toLocaleDateString();
}

function formatBytes(bytes) {
  if (!bytes) return '0 B';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let n = bytes;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

function setMain(...children) {
  const main = $('#main');
  main.replaceChildren(...children);
  document.body.dataset.view = location.hash.split('/')[1] || 'grains';
}

function errorBox(message) {
  return el('p', { class: 'error-box', role: 'alert', text: message });
}

// A form whose submit runs `action`; the button is disabled meanwhile and errors show inline.
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

function field(label, input) {
  return el('label', { class: 'field' }, el('span', { text: label }), input);
}

// ---- Header --------------------------------------------------------------------------------

function renderHeader() {
  const user = state.session?.user;
  $('[data-nav]').hidden = !user;
  $('[data-account]').hidden = !user;
  $('[data-admin-only]').hidden = !user?.isAdmin;
  $('[data-user-name]').textContent = user ? user.name : '';
  const current = location.hash.split('/')[1] || 'grains';
  for (const link of document.querySelectorAll('[data-route]')) {
    const active = link.dataset.route === current;
    link.classList.toggle('is-current', active);
    if (active) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
}

// ---- Sign-in views -------------------------------------------------------------------------

function authCard(title, lead, form) {
  return el('section', { class: 'auth-card panel', 'aria-labelledby': 'auth-title' },
    el('h1', { id: 'auth-title', text: title }),
    lead ? el('p', { class: 'muted', text: lead }) : null,
    form);
}

function passwordInputs() {
  return [
    field('Password (at least 10 characters)', el('input', { name: 'password', type: 'password', required: true, minlength: 10, autocomplete: 'new-password' })),
    field('Password again', el('input', { name: 'password2', type: 'password', required: true, minlength: 10, autocomplete: 'new-password' })),
  ];
}

function checkPasswords(data) {
  if (data.get('password') !== data.get('password2')) throw new Error('The two passwords differ.');
}

async function afterLogin() {
  state.session = await loadSession();
  location.hash = '#/grains';
  route();
}

function viewLogin() {
  const session = state.session;
  if (session?.setupNeeded) {
    setMain(authCard('Welcome to Sandstorm',
      'This server has no account yet. Open the setup link printed in the server\'s console when it started ' +
      '(or run `sandstorm admin-token` on the server for a new one) to create the administrator account.', null));
    return;
  }
  const form = asyncForm(el('form', { class: 'stack' },
    field('User name', el('input', { name: 'name', required: true, autocomplete: 'username', autofocus: true })),
    field('Password', el('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' })),
    el('button', { class: 'button', type: 'submit', text: 'Log in' })),
  async (data) => {
    await api('POST', '/api/login', { name: data.get('name'), password: data.get('password') });
    await afterLogin();
  });
  setMain(authCard('Log in', session?.error || 'Log in to see your grains and apps.', form));
  form.querySelector('input').focus();
}

function viewSetup(token) {
  if (state.session?.user) { location.hash = '#/grains'; return; }
  const form = asyncForm(el('form', { class: 'stack' },
    field('Administrator name', el('input', { name: 'name', required: true, maxlength: 64, pattern: '[A-Za-z0-9._\\-]+', autocomplete: 'username', title: 'Letters, digits, dots, dashes, underscores' })),
    ...passwordInputs(),
    el('button', { class: 'button', type: 'submit', text: 'Create the administrator account' })),
  async (data) => {
    checkPasswords(data);
    await api('POST', '/api/setup', { token, name: data.get('name'), password: data.get('password') });
    toast('Welcome! Your server is ready.');
    await afterLogin();
  });
  setMain(authCard('Set up your server', 'Create the first account. It can install apps and invite other people.', form));
  form.querySelector('input').focus();
}

async function viewInvite(token) {
  const check = await api('GET', `/api/invites/${encodeURIComponent(token)}`).catch(() => ({ valid: false }));
  if (!check.valid) {
    setMain(authCard('This invite does not work', 'It was used already or has expired. Ask the person who sent it for a new one.', null));
    return;
  }
  const form = asyncForm(el('form', { class: 'stack' },
    field('Choose a user name', el('input', { name: 'name', required: true, maxlength: 64, pattern: '[A-Za-z0-9._\\-]+', autocomplete: 'username' })),
    ...passwordInputs(),
    el('button', { class: 'button', type: 'submit', text: 'Create my account' })),
  async (data) => {
    checkPasswords(data);
    await api('POST', '/api/signup', { invite: token, name: data.get('name'), password: data.get('password') });
    await afterLogin();
  });
  setMain(authCard('You are invited', 'Create your account on this server.', form));
}

// ---- Grains --------------------------------------------------------------------------------

async function viewGrains(trash = false) {
  const [grains, apps] = await Promise.all([
    api('GET', trash ? '/api/grains?trash=1' : '/api/grains'),
    api('GET', '/api/apps'),
  ]);
  const create = el('div', { class: 'new-grain' },
    el('h2', { class: 'subhead', text: 'Create a grain' }),
    apps.length === 0
      ? el('p', { class: 'muted' }, 'No apps are installed yet. ', el('a', { href: '#/apps', text: 'Install one' }), '.')
      : el('div', { class: 'action-grid' }, apps.flatMap((app) => app.actions.map((action) =>
        el('button', {
          class: 'action-card', type: 'button',
          onclick: () => createGrain(app, action),
        }, el('span', { class: 'item-icon', 'aria-hidden': 'true', text: (app.title[0] || '?').toUpperCase() }),
        el('span', { class: 'action-text' },
          el('strong', { text: action.title }),
          el('span', { class: 'muted', text: app.title })))))));

  const list = grains.length === 0
    ? el('div', { class: 'empty-state' },
      el('h3', { text: trash ? 'The trash is empty' : 'No grains yet' }),
      el('p', { text: trash
        ? 'Grains you move to the trash stay here for 30 days, then they are deleted for good.'
        : 'A grain is one document or app instance, such as a notebook or a chat room, running in its own sandbox. Create one above.' }))
    : el('ul', { class: 'item-list grain-list' }, grains.map((g) => grainRow(g, trash)));

  setMain(
    el('div', { class: 'page-head' },
      el('h1', { text: trash ? 'Trash' : 'Your grains' }),
      el('a', { class: 'link-button', href: trash ? '#/grains' : '#/grains/trash', text: trash ? 'Back to grains' : 'Trash' })),
    trash ? null : create,
    el('section', { class: 'panel', 'aria-label': trash ? 'Grains in the trash' : 'Grains' }, list));
}

function grainRow(g, trash) {
  const meta = `${g.appTitle} · ${trash ? `trashed ${formatTime(g.trashedAt)}` : `opened ${formatTime(g.lastOpenedAt)}`} · ${formatBytes(g.sizeBytes)}${g.running ? ' · running' : ''}`;
  const title = trash ? el('span', { class: 'item-title', text: g.title })
    : el('a', { class: 'item-title', href: `#/grain/${g.id}`, text: g.title });
  const actions = trash
    ? [
      el('button', { type: 'button', class: 'small-button', text: 'Restore', onclick: async () => {
        await run(() => api('POST', `/api/grains/${g.id}/restore`), `"${g.title}" is back in your grains.`);
      } }),
      el('button', { type: 'button', class: 'small-button danger', text: 'Delete forever', onclick: async () => {
        if (!confirm(`Delete "${g.title}" and all its data for good? This cannot be undone.`)) return;
        await run(() => api('DELETE', `/api/grains/${g.id}`), `"${g.title}" was deleted.`);
      } }),
    ]
    : [
      el('button', { type: 'button', class: 'small-button', text: 'Rename', onclick: async () => {
        const name = prompt('New name for this grain', g.title);
        if (name === null || !name.trim()) return;
        await run(() => api('PATCH', `/api/grains/${g.id}`, { title: name.trim() }), 'Renamed.');
      } }),
      el('button', { type: 'button', class: 'small-button', text: 'Move to trash', onclick: async () => {
        await run(() => api('POST', `/api/grains/${g.id}/trash`), `"${g.title}" moved to the trash.`);
      } }),
    ];
  return el('li', { class: 'item' },
    el('span', { class: 'item-icon', 'aria-hidden': 'true', text: (g.appTitle[0] || '?').toUpperCase() }),
    el('div', { class: 'item-body' }, title, el('span', { class: 'item-meta', text: meta })),
    el('div', { class: 'item-actions' }, actions));
}

async function run(action, success) {
  try {
    await action();
    if (success) toast(success);
  } catch (e) {
    toast(e.message, 'error');
  }
  route();
}

async function createGrain(app, action) {
  try {
    const { grain } = await api('POST', '/api/grains', { appId: app.appId, actionIndex: action.index });
    location.hash = `#/grain/${grain.id}`;
  } catch (e) {
    toast(e.message, 'error');
  }
}

// ---- One grain -----------------------------------------------------------------------------

function endGrainSession() {
  const s = state.grainSession;
  if (!s) return;
  clearInterval(s.timer);
  state.grainSession = null;
  fetch(`/api/grain-sessions/${s.id}`, {
    method: 'DELETE', keepalive: true, credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': state.session?.csrf || '' },
  }).catch(() => {});
}

function startHeartbeat(sessionId) {
  endGrainSession();
  const timer = setInterval(async () => {
    try {
      await api('POST', `/api/grain-sessions/${sessionId}/heartbeat`);
    } catch (e) {
      if (e.status === 410) toast('This grain session ended. Reload the page to open it again.', 'error');
    }
  }, HEARTBEAT_MS);
  state.grainSession = { id: sessionId, timer };
}

function grainFrame(opened, { owner, grainId, shareToken }) {
  const title = owner
    ? el('input', { class: 'grain-title', value: opened.title, 'aria-label': 'Grain name', maxlength: 200,
      onchange: async (event) => {
        const name = event.target.value.trim();
        if (!name) return;
        try {
          await api('PATCH', `/api/grains/${grainId}`, { title: name });
          toast('Renamed.');
        } catch (e) { toast(e.message, 'error'); }
      } })
    : el('span', { class: 'grain-title', text: opened.title });
  const details = owner ? el('details', { class: 'grain-details' },
    el('summary', { text: 'Log & usage' }),
    el('div', { class: 'details-body' },
      el('button', { type: 'button', class: 'small-button', text: 'Refresh', onclick: (e) => loadDetails(e.target.closest('details'), grainId) }),
      el('dl', { class: 'usage' }),
      el('pre', { class: 'log', tabindex: 0, 'aria-label': 'Grain log' })))
    : null;
  details?.addEventListener('toggle', () => { if (details.open) loadDetails(details, grainId); });
  const bar = el('div', { class: 'grain-bar' },
    el('a', { class: 'link-button', href: state.session?.user ? '#/grains' : '#/', text: '← Grains', hidden: !state.session?.user }),
    title,
    el('span', { class: 'role-badge', text: opened.role === 'owner' ? 'owner' : opened.role }),
    owner ? el('button', { type: 'button', class: 'button compact', text: 'Share', onclick: () => openShareDialog(grainId) }) : null,
    details);
  const frame = el('iframe', {
    class: 'grain-frame',
    src: opened.url,
    title: opened.title,
    sandbox: 'allow-scripts allow-forms allow-same-origin allow-popups allow-popups-to-escape-sandbox allow-downloads allow-modals',
    allow: 'clipboard-write',
    referrerpolicy: 'no-referrer',
  });
  setMain(el('div', { class: 'grain-view', 'data-grain': grainId || shareToken }, bar, frame));
  startHeartbeat(opened.sessionId);
}

async function loadDetails(details, grainId) {
  try {
    const [usage, log] = await Promise.all([
      api('GET', `/api/grains/${grainId}/usage`),
      api('GET', `/api/grains/${grainId}/log`),
    ]);
    const dl = details.querySelector('.usage');
    dl.replaceChildren(
      el('dt', { text: 'State' }), el('dd', { text: usage.running ? 'running' : 'stopped' }),
      el('dt', { text: 'Starts' }), el('dd', { text: String(usage.starts) }),
      el('dt', { text: 'Disk' }), el('dd', { text: formatBytes(usage.diskBytes) }),
      usage.lastExit ? el('dt', { text: 'Last exit' }) : null,
      usage.lastExit ? el('dd', { text: usage.lastExit }) : null);
    details.querySelector('.log').textContent = log;
  } catch (e) {
    toast(e.message, 'error');
  }
}

async function viewGrain(id) {
  setMain(el('p', { class: 'loading', text: 'Opening…' }));
  try {
    const opened = await api('POST', `/api/grains/${id}/open`);
    grainFrame(opened, { owner: true, grainId: id });
  } catch (e) {
    setMain(el('div', { class: 'page-head' }, el('h1', { text: 'This grain cannot be opened' })),
      errorBox(e.message), el('a', { class: 'button', href: '#/grains', text: 'Back to your grains' }));
  }
}

async function viewShare(token) {
  let info;
  try {
    info = await api('GET', `/api/shares/${encodeURIComponent(token)}`);
  } catch (e) {
    setMain(authCard('This link does not work', e.message, state.session?.user
      ? el('a', { class: 'button', href: '#/grains', text: 'Go to your grains' }) : null));
    return;
  }
  if (info.needsLogin) {
    state.afterLogin = location.hash;
    setMain(authCard(`"${info.grainTitle}" was shared with you`, 'Log in to open it.', null));
    return;
  }
  try {
    const opened = await api('POST', `/api/shares/${encodeURIComponent(token)}/open`);
    grainFrame(opened, { owner: false, shareToken: token });
  } catch (e) {
    setMain(authCard('This link does not work', e.message, null));
  }
}

// ---- Sharing dialog ------------------------------------------------------------------------

async function openShareDialog(grainId) {
  const dialog = $('[data-share-dialog]');
  const form = $('[data-share-form]');
  const select = $('[data-share-role]');
  $('[data-share-result]').hidden = true;
  form.reset();
  try {
    const roles = await api('GET', `/api/grains/${grainId}/roles`);
    select.replaceChildren(...roles.map((r) => el('option', { value: r.index, text: r.title })));
    // Default to the least powerful role: sharing more should be a choice.
    select.value = String(roles[roles.length - 1].index);
  } catch (e) { toast(e.message, 'error'); return; }
  form.onsubmit = async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const share = await api('POST', `/api/grains/${grainId}/shares`, {
        role: Number(data.get('role')), label: data.get('label') || '', anonymous: data.get('anonymous') === 'on',
      });
      $('[data-share-url]').value = share.url;
      $('[data-share-result]').hidden = false;
      $('[data-share-url]').select();
      await loadShares(grainId);
    } catch (e) { toast(e.message, 'error'); }
  };
  await loadShares(grainId);
  dialog.showModal();
}

async function loadShares(grainId) {
  const shares = await api('GET', `/api/grains/${grainId}/shares`);
  const list = $('[data-share-list]');
  const active = shares.filter((s) => !s.revokedAt);
  list.replaceChildren(...(active.length === 0
    ? [el('li', { class: 'muted', text: 'No links yet: only you can open this grain.' })]
    : active.map((s) => el('li', { class: 'share-item' },
      el('span', {}, el('strong', { text: s.label || 'Link' }), ` · ${s.roleTitle}${s.anonymous ? ' · no login needed' : ''} · created ${formatTime(s.createdAt)}`),
      el('button', { type: 'button', class: 'small-button danger', text: 'Revoke', onclick: async () => {
        try {
          await api('DELETE', `/api/shares/${s.id}`);
          toast('Link revoked: it stops working now.');
          await loadShares(grainId);
        } catch (e) { toast(e.message, 'error'); }
      } })))));
}

// ---- Apps ----------------------------------------------------------------------------------

async function viewApps() {
  const apps = await api('GET', '/api/apps');
  const progress = el('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const status = el('p', { class: 'muted', 'aria-live': 'polite' });
  const input = el('input', { type: 'file', accept: '.spk', id: 'spk-file', class: 'visually-hidden' });
  input.addEventListener('change', () => { if (input.files[0]) uploadApp(input.files[0], progress, status); });
  const upload = el('section', { class: 'panel upload' },
    el('h2', { class: 'subhead', text: 'Install an app' }),
    el('p', { class: 'muted', text: 'Apps come as signed .spk packages. A newer version of an installed app (same signing key) asks you to confirm the upgrade.' }),
    el('label', { class: 'button', for: 'spk-file', tabindex: 0, role: 'button',
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } } }, 'Choose a .spk file…'),
    input, progress, status);
  const list = apps.length === 0
    ? el('div', { class: 'empty-state' }, el('h3', { text: 'No apps installed yet' }),
      el('p', { text: 'Apps arrive as .spk packages: signed archives that bundle an app with everything it needs to run.' }))
    : el('ul', { class: 'item-list' }, apps.map(appRow));
  setMain(el('div', { class: 'page-head' }, el('h1', { text: 'Apps' })), upload,
    el('section', { class: 'panel', 'aria-label': 'Installed apps' }, list));
}

function appRow(app) {
  const isAdmin = state.session?.user?.isAdmin;
  const short = `${app.appId.slice(0, 8)}…`;
  return el('li', { class: 'item' },
    el('span', { class: 'item-icon', 'aria-hidden': 'true', text: (app.title[0] || '?').toUpperCase() }),
    el('div', { class: 'item-body' },
      el('span', { class: 'item-title', text: app.title }),
      el('span', { class: 'item-meta' }, `version ${app.marketingVersion || app.version} · ${app.grainCount} grain${app.grainCount === 1 ? '' : 's'} · key `,
        el('code', { title: app.appId, text: short }), ' ',
        el('button', { type: 'button', class: 'link-button', text: 'copy ID', 'aria-label': `Copy the app ID of ${app.title}`,
          onclick: () => navigator.clipboard?.writeText(app.appId).then(() => toast('App ID copied.'), () => toast(app.appId)) })),
      app.description ? el('span', { class: 'item-meta', text: app.description }) : null,
      app.pendingUpgrade ? el('div', { class: 'upgrade-banner', role: 'status' },
        `Version ${app.pendingUpgrade.marketingVersion || app.pendingUpgrade.version} was uploaded. Its grains restart on it when you upgrade.`,
        isAdmin ? el('button', { type: 'button', class: 'small-button', text: 'Upgrade now', onclick: async () => {
          await run(() => api('POST', `/api/apps/${app.appId}/upgrade`, { packageId: app.pendingUpgrade.packageId }), `${app.title} upgraded.`);
        } }) : null) : null),
    el('div', { class: 'item-actions' },
      app.actions.map((a) => el('button', { type: 'button', class: 'small-button', text: a.title, onclick: () => createGrain(app, a) })),
      isAdmin ? el('button', { type: 'button', class: 'small-button danger', text: 'Uninstall', onclick: async () => {
        if (!confirm(`Uninstall ${app.title}?`)) return;
        await run(() => api('DELETE', `/api/apps/${app.appId}`), `${app.title} uninstalled.`);
      } }) : null));
}

function uploadApp(file, progress, status) {
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/apps');
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  xhr.setRequestHeader('X-CSRF-Token', state.session?.csrf || '');
  progress.hidden = false;
  progress.value = 0;
  status.textContent = `Uploading ${file.name}…`;
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
  };
  xhr.upload.onload = () => { status.textContent = 'Checking the signature and unpacking…'; };
  xhr.onerror = () => { status.textContent = 'The upload failed: the connection was lost.'; };
  xhr.onload = () => {
    progress.hidden = true;
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status !== 200) {
      status.textContent = '';
      toast((data && data.error) || `The upload failed (${xhr.status}).`, 'error');
      return;
    }
    const title = data.app.title;
    const messages = {
      installed: `${title} is installed.`,
      'already-installed': `${title} was already installed.`,
      'upgrade-pending': `A new version of ${title} is ready: confirm the upgrade below.`,
    };
    toast(messages[data.result] || 'Done.');
    route();
  };
  xhr.send(file);
}

// ---- Admin ---------------------------------------------------------------------------------

async function viewAdmin() {
  if (!state.session?.user?.isAdmin) {
    setMain(errorBox('Only an administrator can see this page.'));
    return;
  }
  const [status, users] = await Promise.all([api('GET', '/api/admin/status'), api('GET', '/api/users')]);
  const inviteOut = el('div', { class: 'copy-row', hidden: true },
    el('input', { readonly: true, 'aria-label': 'Invite link' }),
    el('button', { type: 'button', class: 'button secondary', text: 'Copy', onclick: (e) => {
      const input = e.target.parentNode.querySelector('input');
      navigator.clipboard?.writeText(input.value).then(() => toast('Invite link copied.'), () => input.select());
    } }));
  const stats = [['Version', status.version], ['Up for', `${Math.floor(status.uptimeSeconds / 3600)} h ${Math.floor(status.uptimeSeconds / 60) % 60} min`],
    ['Users', status.users], ['Apps', status.apps], ['Grains', status.grains], ['Grains running', status.grainsRunning], ['Data directory', status.dataDir]];
  setMain(
    el('div', { class: 'page-head' }, el('h1', { text: 'Administration' })),
    el('section', { class: 'panel' }, el('h2', { class: 'subhead', text: 'Server' }),
      el('dl', { class: 'usage' }, stats.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: String(v) })]))),
    el('section', { class: 'panel' }, el('h2', { class: 'subhead', text: 'People' }),
      el('ul', { class: 'item-list' }, users.map((u) => el('li', { class: 'item' },
        el('span', { class: 'item-icon', 'aria-hidden': 'true', text: u.name[0].toUpperCase() }),
        el('div', { class: 'item-body' }, el('span', { class: 'item-title', text: u.name }),
          el('span', { class: 'item-meta', text: `${u.isAdmin ? 'administrator' : 'user'} · joined ${formatTime(u.createdAt)}` }))))),
      el('button', { type: 'button', class: 'button', text: 'Create an invite link', onclick: async () => {
        try {
          const invite = await api('POST', '/api/invites');
          inviteOut.hidden = false;
          inviteOut.querySelector('input').value = invite.url;
          inviteOut.querySelector('input').select();
        } catch (e) { toast(e.message, 'error'); }
      } }),
      el('p', { class: 'muted', text: 'An invite link creates one account and works for 7 days.' }),
      inviteOut));
}

// ---- Router --------------------------------------------------------------------------------

async function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const [view, arg] = parts;
  if (view !== 'grain' && view !== 'share') endGrainSession();
  renderHeader();
  try {
    if (view === 'setup') return viewSetup(arg);
    if (view === 'invite') return await viewInvite(arg);
    if (view === 'share') return await viewShare(arg);
    if (!state.session?.user) return viewLogin();
    if (view === 'apps') return await viewApps();
    if (view === 'admin') return await viewAdmin();
    if (view === 'grain' && arg) return await viewGrain(arg);
    if (view === 'grains' && arg === 'trash') return await viewGrains(true);
    return await viewGrains(false);
  } catch (e) {
    if (e.status === 401) return undefined;
    setMain(errorBox(e.message));
  } finally {
    document.body.dataset.shell = 'ready';
  }
  return undefined;
}

function wireStatic() {
  $('[data-action="logout"]').addEventListener('click', async () => {
    endGrainSession();
    await api('POST', '/api/logout').catch(() => {});
    state.session = await loadSession();
    location.hash = '#/';
    route();
  });
  $('[data-action="logout-everywhere"]').addEventListener('click', async () => {
    if (!confirm('Log out on every device, including this one?')) return;
    endGrainSession();
    await api('POST', '/api/logout-everywhere').catch(() => {});
    state.session = await loadSession();
    location.hash = '#/';
    route();
  });
  $('[data-action="close-dialog"]').addEventListener('click', () => $('[data-share-dialog]').close());
  $('[data-action="copy-share"]').addEventListener('click', () => {
    const input = $('[data-share-url]');
    navigator.clipboard?.writeText(input.value).then(() => toast('Link copied.'), () => input.select());
  });
  window.addEventListener('hashchange', route);
  window.addEventListener('pagehide', endGrainSession);
}

async function main() {
  wireStatic();
  state.session = await loadSession();
  if (!location.hash) history.replaceState(null, '', '#/grains');
  await route();
}

main();
