// Shared helpers of the browser scenarios: launching Debian's chromium
// through playwright-core, pages with a viewport, screenshots, assertions
// and keyboard helpers. Nothing here knows Latch or an application: a
// scenario module (records.mjs, login.mjs, ...) exports
//
//	export const description = 'one line';
//	export async function run(t) { ... }
//
// and run.mjs calls it with a test context t (see newTestContext): t.env,
// t.launch, t.step, t.screenshot.

import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

/** The browser: Debian's chromium (apt-get install chromium), never one playwright downloads. */
export const CHROMIUM = process.env.LATCH_CHROMIUM || '/usr/bin/chromium';

/** Where screenshots go: LATCH_SCREENSHOTS, or e2e/browser/screenshots. */
export const SCREENSHOTS = resolve(process.env.LATCH_SCREENSHOTS || join(here, 'screenshots'));

export const DESKTOP = Object.freeze({ width: 1280, height: 800 });
export const PHONE = Object.freeze({ width: 390, height: 844 });

// Flags for a closed network, as root, without a display. The resolver rule
// makes every host name fail: the tests use 127.0.0.1 literally, and
// nothing else is reachable (the route guard in launch() also refuses any
// request that is not to 127.0.0.1).
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
];

/** AssertionError is a failed expectation (as opposed to a crash). */
export class AssertionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function fail(message) {
  throw new AssertionError(message);
}

const show = (v) => (typeof v === 'string' ? JSON.stringify(v) : String(v));

// ---- expectations ---------------------------------------------------------

export function expect(cond, what) {
  if (!cond) fail(what);
}

export function expectEqual(actual, expected, what) {
  if (actual !== expected) fail(`${what}: got ${show(actual)}, want ${show(expected)}`);
}

export function expectMatch(actual, re, what) {
  if (!re.test(String(actual))) fail(`${what}: ${show(actual)} does not match ${re}`);
}

export function expectIncludes(haystack, needle, what) {
  if (!String(haystack).includes(needle)) fail(`${what}: ${show(needle)} not found in ${show(clip(haystack))}`);
}

export function expectExcludes(haystack, needle, what) {
  if (String(haystack).includes(needle)) fail(`${what}: ${show(needle)} must not appear, but does in ${show(clip(haystack))}`);
}

function clip(s, n = 600) {
  s = String(s).replace(/\s+/g, ' ').trim();
  return s.length > n ? s.slice(0, n) + '…' : s;
}

/** expectStatus checks a playwright Response (from goto, waitForResponse, ...). */
export function expectStatus(response, status, what) {
  if (!response) fail(`${what}: no response`);
  if (response.status() !== status) fail(`${what}: ${response.request().method()} ${response.url()} answered ${response.status()}, want ${status}`);
}

/** expectURL checks the page's URL: a string (exact) or a RegExp. */
export function expectURL(page, want, what) {
  const url = page.url();
  if (want instanceof RegExp ? !want.test(url) : url !== want) fail(`${what}: the page is at ${url}, want ${want}`);
}

/** text is a locator's visible text, whitespace collapsed. */
export async function text(locator) {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

/** bodyText is the visible text of the whole page, whitespace collapsed. */
export async function bodyText(page) {
  return text(page.locator('body'));
}

/** expectVisible waits (briefly) for a locator to be visible. */
export async function expectVisible(locator, what, timeout = 5000) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout });
  } catch {
    fail(`${what}: not visible (${locator})`);
  }
}

/** expectNoHorizontalScroll: the page is no wider than its viewport. */
export async function expectNoHorizontalScroll(page, what) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  }));
  if (scrollWidth > innerWidth) fail(`${what}: scrolls horizontally (scrollWidth ${scrollWidth} > ${innerWidth})`);
}

/** expectLabelled: every visible form control has a label that getByLabel finds. */
export async function expectLabelled(page, what) {
  const controls = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden')
      .map((el) => ({
        id: el.id, name: el.name,
        labels: [...(el.labels || [])].map((l) => l.innerText.replace(/\s+/g, ' ').trim()),
      })));
  expect(controls.length > 0, `${what}: no form controls`);
  for (const c of controls) {
    const desc = c.id ? `#${c.id}` : `[name=${c.name}]`;
    if (c.labels.length === 0) fail(`${what}: ${desc} has no label`);
    const found = page.getByLabel(c.labels[0], { exact: true });
    if ((await found.count()) !== 1) fail(`${what}: getByLabel(${show(c.labels[0])}) finds ${await found.count()} controls, want 1 (${desc})`);
    const id = await found.getAttribute('id');
    const name = await found.getAttribute('name');
    if (id !== (c.id || null) || name !== (c.name || null)) fail(`${what}: getByLabel(${show(c.labels[0])}) finds #${id}, want ${desc}`);
  }
  return controls;
}

// ---- navigation -----------------------------------------------------------

/**
 * navigation runs action (a click, a key press) that makes the page load
 * another document, and waits until that document is the page's and has
 * loaded: redirects followed, so reading the page then reads the new one
 * (waitForLoadState alone may answer for the old document, and waitForURL
 * at once when a form posts to the page's own URL).
 */
export async function navigation(page, action) {
  const committed = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await action();
  await committed;
  await page.waitForLoadState('load');
}

// ---- keyboard -------------------------------------------------------------

/** activeElement describes document.activeElement: tag, id, name, type, text. */
export async function activeElement(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { tag: 'body', desc: 'body' };
    const d = {
      tag: el.tagName.toLowerCase(), id: el.id || '', name: el.getAttribute('name') || '',
      type: el.getAttribute('type') || '', text: (el.innerText || el.value || '').replace(/\s+/g, ' ').trim().slice(0, 60),
    };
    d.desc = d.tag + (d.id ? '#' + d.id : '') + (d.name ? `[name=${d.name}]` : '') + (d.text ? ` "${d.text}"` : '');
    return d;
  });
}

/**
 * focusTop moves the focus to the start of the document: the next Tab goes
 * to its first focusable element. (A blur alone is not enough: Chromium
 * goes on from where the focus was.) It focuses an empty, unfocusable-by-Tab
 * marker prepended to the body; clearFocusTop removes it.
 */
export async function focusTop(page) {
  await page.evaluate(() => {
    document.getElementById('__focus-top')?.remove();
    const marker = document.createElement('span');
    marker.id = '__focus-top';
    marker.tabIndex = -1;
    document.body.prepend(marker);
    marker.focus();
  });
}

export async function clearFocusTop(page) {
  await page.evaluate(() => document.getElementById('__focus-top')?.remove());
}

/** tabOrder presses Tab n times and returns the focused element after each press. */
export async function tabOrder(page, n) {
  const seen = [];
  for (let i = 0; i < n; i++) {
    await page.keyboard.press('Tab');
    seen.push(await activeElement(page));
  }
  return seen;
}

/**
 * expectTabOrder: from the top of the page, each Tab focuses the next of
 * want (playwright selectors or locators, each matching one element).
 */
export async function expectTabOrder(page, want, what) {
  await focusTop(page);
  const got = [];
  for (const w of want) {
    const loc = typeof w === 'string' ? page.locator(w) : w;
    await page.keyboard.press('Tab');
    const d = await activeElement(page);
    got.push(d.desc);
    const n = await loc.count();
    if (n !== 1) fail(`${what}: ${loc} matches ${n} elements, want 1`);
    if (!(await loc.evaluate((el) => el === document.activeElement))) {
      fail(`${what}: Tab #${got.length} focused ${d.desc}, want ${loc} (order so far: ${got.join(' → ')})`);
    }
  }
  await clearFocusTop(page);
  return got;
}

// ---- the browser ----------------------------------------------------------

/**
 * launch starts chromium with a fresh, empty user-data-dir: a browser of its
 * own (cookies, storage), as a second person or device would be. The result:
 *
 *	{ context, newPage(viewport = DESKTOP), offLoopback, close() }
 *
 * Every request not to http://127.0.0.1 is aborted and recorded in
 * offLoopback; close() fails if there was one.
 */
export async function launch({ viewport = DESKTOP } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'latch-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM, headless: true, args: FLAGS,
      viewport, timeout: 30_000,
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`cannot start ${CHROMIUM}: ${err.message}`);
  }
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const offLoopback = [];
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if ((u.protocol === 'http:' && u.hostname === '127.0.0.1') || u.protocol === 'data:' || u.protocol === 'blob:') {
      return route.continue();
    }
    offLoopback.push(u.href);
    return route.abort('blockedbyclient');
  });
  // launchPersistentContext opens a first tab; scenarios use their own.
  for (const p of context.pages()) await p.close();
  let closed = false;
  return {
    context,
    offLoopback,
    async newPage(vp = viewport) {
      const page = await context.newPage();
      await page.setViewportSize(vp);
      return page;
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await context.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      if (offLoopback.length) fail(`chromium tried to reach something other than 127.0.0.1: ${offLoopback.join(', ')}`);
    },
  };
}

/** screenshot saves the page as SCREENSHOTS/name.png (the whole page) and returns the path. */
export async function screenshot(page, name) {
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(name)) throw new Error(`screenshot name ${show(name)}: letters, digits, . _ - only`);
  await mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** requireEnv returns the environment variable name, or throws naming it. */
export function requireEnv(name) {
  const v = process.env[name];
  if (!v) throw new Error(`the environment variable ${name} is not set (run the scenarios through go test ./e2e/browser/)`);
  return v;
}

/**
 * newTestContext is what a scenario's run(t) gets:
 *	t.env(NAME)              a required environment variable
 *	t.launch(opts)           launch(), closed by the runner after the scenario
 *	t.step(text)             logs a step (the runner prints the last one on failure)
 *	t.screenshot(page, name) screenshot(), the file name recorded in t.screenshots
 *	t.log(...)               a note in the output
 */
export function newTestContext(name) {
  const sessions = [];
  const t = {
    name,
    screenshots: [],
    lastStep: '',
    started: Date.now(),
    pages: [],
    env: requireEnv,
    async launch(opts) {
      const s = await launch(opts);
      sessions.push(s);
      const newPage = s.newPage;
      s.newPage = async (vp) => {
        const p = await newPage(vp);
        t.pages.push(p);
        return p;
      };
      return s;
    },
    step(what) {
      t.lastStep = what;
      console.log(`  - ${what} (at ${((Date.now() - t.started) / 1000).toFixed(1)} s)`);
    },
    log(...args) {
      console.log('    ', ...args);
    },
    async screenshot(page, shot) {
      const path = await screenshot(page, shot);
      t.screenshots.push(path);
      return path;
    },
    // closeAll closes every browser the scenario launched; the first error wins.
    async closeAll() {
      let first;
      for (const s of sessions.splice(0)) {
        try {
          await s.close();
        } catch (err) {
          first ??= err;
        }
      }
      if (first) throw first;
    },
  };
  return t;
}

// ---- accessibility --------------------------------------------------------

let axeSource;

/**
 * audit runs axe-core (pinned in package.json) on the page against WCAG 2.x
 * A and AA and returns its violations, each as "rule (impact): target …".
 * The script is evaluated through the DevTools protocol, which the pages'
 * CSP (no script at all) does not apply to, so the pages stay as served.
 */
export async function audit(page) {
  if (!axeSource) {
    const { readFile } = await import('node:fs/promises');
    axeSource = await readFile(join(here, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  }
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const res = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return res.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')} [${(n.any[0] || n.all[0] || n.none[0] || {}).message || ''}]`),
    }));
  });
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.join('; ')}`);
}

/** expectAccessible fails with every axe-core violation on the page. */
export async function expectAccessible(page, what) {
  const found = await audit(page);
  if (found.length) fail(`${what} (${page.url()}): ${found.length} accessibility violation(s):\n  ${found.join('\n  ')}`);
}
