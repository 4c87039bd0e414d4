// Runs browser scenarios: node run.mjs [SCENARIO ...]
//
// A scenario is a module NAME.mjs in this directory that exports
// run(t) (and a one-line description). The names come from the arguments,
// else from LATCH_BROWSER_SCENARIOS (space or comma separated), else every
// scenario module here. Each runs in turn with its own browsers; a failure
// is reported with the step it happened in, a screenshot of every open page
// (NAME-failure-N.png) and the exit status 1. The servers and the
// environment are the caller's: go test ./e2e/browser/ starts them.

import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SCREENSHOTS, newTestContext, screenshot } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SCENARIO_TIMEOUT_MS = Number(process.env.LATCH_SCENARIO_TIMEOUT_MS || 90_000);

async function loadScenario(name) {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`${JSON.stringify(name)} is not a scenario name`);
  let mod;
  try {
    mod = await import(pathToFileURL(join(here, `${name}.mjs`)).href);
  } catch (err) {
    if (err.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes(`${name}.mjs`)) throw new Error(`no scenario ${name} (${name}.mjs)`);
    throw err;
  }
  if (typeof mod.run !== 'function') throw new Error(`${name}.mjs is not a scenario: it exports no run(t)`);
  return mod;
}

async function allScenarios() {
  const names = [];
  for (const f of (await readdir(here)).sort()) {
    if (!f.endsWith('.mjs') || f === 'run.mjs') continue;
    const mod = await import(pathToFileURL(join(here, f)).href);
    if (typeof mod.run === 'function') names.push(f.slice(0, -4));
  }
  return names;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function runOne(name) {
  const mod = await loadScenario(name);
  const t = newTestContext(name);
  const start = Date.now();
  console.log(`# ${name}: ${mod.description || ''}`);
  let error;
  try {
    await withTimeout(mod.run(t), SCENARIO_TIMEOUT_MS, `scenario ${name}`);
  } catch (err) {
    error = err;
    // Screenshots of whatever was on screen, before the browsers close.
    let n = 0;
    for (const page of t.pages) {
      if (page.isClosed()) continue;
      try {
        const path = await screenshot(page, `${name}-failure-${++n}`);
        console.log(`    screenshot of ${page.url()}: ${path}`);
      } catch { /* the browser may be gone */ }
    }
  }
  try {
    await t.closeAll();
  } catch (err) {
    error ??= err;
  }
  const secs = ((Date.now() - start) / 1000).toFixed(1);
  if (error) {
    console.log(`not ok ${name} (${secs} s)`);
    console.log(`    during: ${t.lastStep || '(before the first step)'}`);
    console.log(`    ${error.name === 'AssertionError' ? 'expectation failed' : 'error'}: ${error.message}`);
    if (error.name !== 'AssertionError' && error.stack) console.log(error.stack.split('\n').slice(1, 6).join('\n'));
    return false;
  }
  console.log(`ok ${name} (${secs} s; ${t.screenshots.length} screenshots)`);
  return true;
}

async function main() {
  let names = process.argv.slice(2);
  if (names.length === 0 && process.env.LATCH_BROWSER_SCENARIOS) names = process.env.LATCH_BROWSER_SCENARIOS.split(/[\s,]+/).filter(Boolean);
  if (names.length === 0) names = await allScenarios();
  // Load them all first: a misspelt name fails before any browser starts.
  for (const n of names) await loadScenario(n);
  console.log(`# scenarios: ${names.join(' ')}; screenshots in ${SCREENSHOTS}`);
  const failed = [];
  for (const n of names) if (!(await runOne(n))) failed.push(n);
  if (failed.length) {
    console.log(`FAILED: ${failed.length} of ${names.length} scenarios: ${failed.join(' ')}`);
    process.exit(1);
  }
  console.log(`# ${names.length} scenarios passed`);
}

main().catch((err) => {
  console.log(`FAILED: ${err.message}`);
  process.exit(2);
});
