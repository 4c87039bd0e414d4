// Helpers for Latch's hosted login pages (internal/oauth/web/templates) and
// the records example (examples/records), shared by the scenarios. Not a
// scenario itself (it exports no run).
//
// The environment the Go driver (browser_test.go) sets:
//
//	LATCH_URL                          Latch's issuer URL
//	RECORDS_URL                        the records app
//	RECORDS_ORG_A, RECORDS_USER_A, RECORDS_PASSWORD_A   a member of org A (acme, ann)
//	RECORDS_ORG_B, RECORDS_USER_B, RECORDS_PASSWORD_B   a member of org B (globex, gus)

import { bodyText, expect, expectEqual, expectIncludes, expectStatus, expectVisible, fail, navigation, text } from './lib.mjs';

/** The one message of every failed sign-in (internal/oauth/login.go). */
export const BAD_LOGIN = 'The organization, username or password is not correct.';

export function records(t) {
  const a = { org: t.env('RECORDS_ORG_A'), user: t.env('RECORDS_USER_A'), password: t.env('RECORDS_PASSWORD_A') };
  const b = { org: t.env('RECORDS_ORG_B'), user: t.env('RECORDS_USER_B'), password: t.env('RECORDS_PASSWORD_B') };
  return { latchURL: t.env('LATCH_URL').replace(/\/$/, ''), appURL: t.env('RECORDS_URL').replace(/\/$/, ''), a, b };
}

// Locators of the hosted login's steps.
export const orgField = (page) => page.locator('form:has(input[name=step][value=org]) #organization');
export const usernameField = (page) => page.locator('form:has(input[name=step][value=password]) #username');
export const passwordField = (page) => page.locator('form:has(input[name=step][value=password]) #password');
export const loginError = (page) => page.locator('#form-error');

/** onLatch: the page is one of Latch's (its origin is LATCH_URL's). */
export function onLatch(page, env) {
  return new URL(page.url()).origin === new URL(env.latchURL).origin;
}

/** startSignIn opens the app's home, clicks "Sign in" and waits for Latch's organization step. */
export async function startSignIn(page, env) {
  const home = await page.goto(env.appURL + '/');
  expectStatus(home, 200, 'the records home page');
  await navigation(page, () => page.getByRole('link', { name: 'Sign in' }).click());
  expect(onLatch(page, env), `"Sign in" led to ${page.url()}, not to Latch at ${env.latchURL}`);
  await expectOrgStep(page);
}

export async function expectOrgStep(page) {
  await expectVisible(orgField(page), `Latch's organization step (at ${page.url()})`);
  expectEqual(await page.locator('h1').innerText(), 'Sign in', "the organization step's heading");
}

export async function expectPasswordStep(page, org) {
  await expectVisible(passwordField(page), `Latch's password step (at ${page.url()})`);
  await expectVisible(usernameField(page), "the password step's username field");
  if (org) expectIncludes(await text(page.locator('p.org')), `Organization: ${org}`, 'the password step names the organization');
}

/**
 * submitLogin runs action (a click, a key press) that submits a form of
 * Latch's login pages and returns the response of its POST, failing with
 * an explanation when Latch refused its own form.
 */
export async function submitLogin(page, action) {
  const post = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/login'));
  await navigation(page, action);
  const resp = await post;
  await refusedOwnForm(page, resp);
  return resp;
}

/** submitOrg types org into the organization step and continues; returns the response of the POST. */
export async function submitOrg(page, org) {
  await orgField(page).fill(org);
  return submitLogin(page, () => page.getByRole('button', { name: 'Continue' }).click());
}

/**
 * refusedOwnForm fails with an explanation when Latch refused its own
 * login form as a cross-site one (400 "This form could not be accepted"):
 * that is never what a scenario expects, and the plain status would hide
 * why. The cause found so far: the browser sent "Origin: null", which
 * Chromium does on a form POST from a page whose referrer policy is
 * no-referrer (Latch's pages had it until commit 47bd86d).
 */
export async function refusedOwnForm(page, resp) {
  if (resp.status() !== 400 || !(await bodyText(page)).includes('This form could not be accepted')) return;
  const origin = await resp.request().headerValue('origin');
  const noReferer = await resp.request().headerValue('referer') === null ? ' and no Referer' : '';
  let why = `the POST carried Origin: ${origin === null ? '(none)' : origin}${noReferer}`;
  if (origin === 'null') {
    why += '. Chromium sends Origin: null on a form POST from a page whose referrer policy is no-referrer'
      + ' (the Referrer-Policy header or <meta name=referrer>), and Latch\'s CSRF check (checkCSRF in'
      + ' internal/oauth/session.go) refuses any Origin but the issuer\'s: the hosted login cannot be used from a real browser';
  }
  fail(`Latch refused its own login form at ${resp.url()} (400 "This form could not be accepted"): ${why}`);
}

/**
 * submitPassword fills the password step and signs in; returns the response
 * of the POST (a 303 to the app's callback on success, the page again with
 * an error otherwise).
 */
export async function submitPassword(page, user, password) {
  await usernameField(page).fill(user);
  await passwordField(page).fill(password);
  return submitLogin(page, () => page.getByRole('button', { name: 'Sign in', exact: true }).click());
}

/** signIn goes from the app's home through Latch's two steps to the records list of who.org. */
export async function signIn(page, env, who) {
  await startSignIn(page, env);
  expectStatus(await submitOrg(page, who.org), 200, 'the organization step');
  await expectPasswordStep(page, who.org);
  const resp = await submitPassword(page, who.user, who.password);
  if (resp.status() !== 303) fail(`signing in as ${who.user} of ${who.org}: Latch answered ${resp.status()}: ${await bodyText(page)}`);
  await page.waitForURL(`${env.appURL}/orgs/${who.org}/records`);
  await expectRecordsList(page, who);
}

/** expectRecordsList: the page is the records list of who.org, signed in as who.user. */
export async function expectRecordsList(page, who) {
  expectEqual(await text(page.locator('main h1')), `Records of ${who.org}`, "the records list's heading");
  expectIncludes(await text(page.locator('header .who')), `${who.user} · ${who.org}`, 'the signed-in user in the header');
}

/** recordTitles lists the titles of the records on a records list page. */
export async function recordTitles(page) {
  return page.locator('ul.records li a').allInnerTexts();
}

/** addRecord fills the add form of a records list and submits it; returns the response of the POST. */
export async function addRecord(page, title, body) {
  await page.getByLabel('Title', { exact: true }).fill(title);
  await page.getByLabel('Text', { exact: true }).fill(body);
  const post = page.waitForResponse((r) => r.request().method() === 'POST' && /\/orgs\/[^/]+\/records$/.test(new URL(r.url()).pathname));
  await navigation(page, () => page.getByRole('button', { name: 'Add' }).click());
  return post;
}

/** unique is a short random suffix, so that runs and scenarios do not see each other's records. */
export function unique() {
  return Math.random().toString(36).slice(2, 8);
}
