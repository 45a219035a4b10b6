// Sandstorm shell UI: progressive enhancement only.
// The page is complete without this script; if the server offers /api/status
// ({"version": "...", "apps": [...], "grains": [...]}) we render lists,
// otherwise (404, network error, non-JSON) the empty states stay as they are.

const STATUS_URL = '/api/status';
const STATUS_TIMEOUT_MS = 5000;

async function fetchStatus() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), STATUS_TIMEOUT_MS);
  try {
    const res = await fetch(STATUS_URL, {
      headers: { Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'same-origin',
      signal: controller.signal,
    });
    if (!res.ok) return null;
    const type = res.headers.get('Content-Type') || '';
    if (!type.includes('json')) return null;
    const data = await res.json();
    return data && typeof data === 'object' ? data : null;
  } catch {
    return null; // Offline, aborted or malformed: keep the empty states.
  } finally {
    clearTimeout(timer);
  }
}

const text = (value) =>
  typeof value === 'string' || typeof value === 'number' ? String(value).trim() : '';

function pick(obj, ...keys) {
  if (typeof obj === 'string') return obj.trim();
  if (!obj || typeof obj !== 'object') return '';
  for (const key of keys) {
    const value = text(obj[key]);
    if (value) return value;
  }
  return '';
}

function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content) node.textContent = content;
  return node;
}

function renderItem(title, meta, href) {
  const li = el('li', 'item');
  const icon = el('span', 'item-icon', (title[0] || '?').toUpperCase());
  icon.setAttribute('aria-hidden', 'true');
  const body = el('div', 'item-body');
  let titleNode;
  if (href) {
    titleNode = el('a', 'item-title', title);
    titleNode.href = href;
  } else {
    titleNode = el('span', 'item-title', title);
  }
  body.append(titleNode);
  if (meta) body.append(el('span', 'item-meta', meta));
  li.append(icon, body);
  return li;
}

// Only same-origin absolute paths are turned into links.
const safePath = (value) => (/^\/(?!\/)/.test(value) ? value : '');

function describeApp(app) {
  const title = pick(app, 'title', 'name', 'appTitle', 'appId', 'id') || 'Untitled app';
  const version = pick(app, 'version', 'appVersion', 'marketingVersion');
  return { title, meta: version ? `Version ${version}` : '', href: '' };
}

function describeGrain(grain) {
  const title = pick(grain, 'title', 'name', 'id') || 'Untitled grain';
  const app = pick(grain, 'appTitle', 'app', 'appName', 'appId');
  const href = safePath(pick(grain, 'url', 'href'));
  return { title, meta: app, href };
}

function renderSection(kind, items, describe) {
  const list = document.querySelector(`[data-list="${kind}"]`);
  const empty = document.querySelector(`[data-empty="${kind}"]`);
  const count = document.querySelector(`[data-count="${kind}"]`);
  if (!list || !empty || !Array.isArray(items) || items.length === 0) return;

  list.replaceChildren(
    ...items.map((item) => {
      const { title, meta, href } = describe(item);
      return renderItem(title, meta, href);
    }),
  );
  list.hidden = false;
  empty.hidden = true;
  if (count) {
    count.textContent = String(items.length);
    count.setAttribute('aria-label', `${items.length} ${kind}`);
    count.hidden = false;
  }
}

function highlightNav() {
  const links = document.querySelectorAll('.site-nav a.nav-link[href^="#"]');
  const update = () => {
    for (const link of links) {
      const current = link.getAttribute('href') === location.hash;
      link.classList.toggle('is-current', current);
      if (current) link.setAttribute('aria-current', 'location');
      else link.removeAttribute('aria-current');
    }
  };
  window.addEventListener('hashchange', update);
  update();
}

async function init() {
  document.body.dataset.shell = 'loading';
  highlightNav();

  const status = await fetchStatus();
  if (status) {
    renderSection('apps', status.apps, describeApp);
    renderSection('grains', status.grains, describeGrain);
    const version = text(status.version);
    const versionNode = document.querySelector('[data-version]');
    if (version && versionNode) versionNode.textContent = `v${version}`;
  }

  document.body.dataset.api = status ? 'available' : 'unavailable';
  document.body.dataset.shell = 'ready';
}

init();
