// console: an org administrator signs in to Latch's console through the
// hosted login, creates a client (its secret is shown once and works at the
// token endpoint), creates a user, changes that user's ACL statements, and
// the "test a request" form shows the decision change, with its
// explanation. Then the administrator revokes every session of the user
// from the console and the user's refresh token stops working. The pages
// are checked for labels, keyboard reach and phone width on the way.
//
// Environment (set by browser_test.go):
//
//	LATCH_URL                                    Latch's issuer URL
//	CONSOLE_ORG, CONSOLE_USER, CONSOLE_PASSWORD  an administrator of CONSOLE_ORG
//	CONSOLE_OTHER_ORG                            an org that administrator must not see
//	RECORDS_URL                                  the records app (a second application, for single sign-on)

import {
  PHONE, bodyText, expect, expectEqual, expectExcludes, expectIncludes, expectLabelled, expectNoHorizontalScroll,
  expectStatus, expectTabOrder, expectVisible, text,
} from './lib.mjs';
import { passwordField, submitOrg, submitPassword, unique } from './hosted.mjs';

/** submitConsole runs action (a click) that posts a console form and returns the POST's response. */
async function submitConsole(page, action) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.startsWith('/console/')),
    action(),
  ]);
  await page.waitForLoadState();
  return resp;
}

export const description = 'the console: sign in, create a client and a user, change an ACL statement, test a request, revoke sessions';

export async function run(t) {
  const latchURL = t.env('LATCH_URL').replace(/\/$/, '');
  const org = t.env('CONSOLE_ORG');
  const admin = { user: t.env('CONSOLE_USER'), password: t.env('CONSOLE_PASSWORD') };
  const other = t.env('CONSOLE_OTHER_ORG');
  const id = unique();
  const browser = await t.launch();
  const page = await browser.newPage();
  const consoleURL = (path) => `${latchURL}/console${path}`;

  t.step('the console sends a new browser to the hosted login');
  await page.goto(consoleURL('/'));
  expect(new URL(page.url()).pathname === '/oauth2/authorize', `the console led to ${page.url()}, not to the hosted login`);
  expectStatus(await submitOrg(page, org), 200, 'the organization step');
  await expectVisible(passwordField(page), 'the password step');
  const signedIn = await submitPassword(page, admin.user, admin.password);
  await page.waitForLoadState();
  expectEqual(new URL(page.url()).pathname, '/console/', 'where the sign-in lands');
  expectIncludes(await text(page.locator('#signed-in-as')), `${admin.user} · ${org}`, 'who the console says is signed in');
  expect(signedIn, 'the password step answered');
  const home = await bodyText(page);
  expectIncludes(home, org, 'the home page lists the administrator\'s org');
  expectExcludes(home, other, 'the home page of an org administrator');
  await t.screenshot(page, 'console-home');

  t.step('single sign-on: the records app signs the same person in without a password');
  const records = await browser.newPage();
  const appURL = t.env('RECORDS_URL').replace(/\/$/, '');
  await records.goto(appURL + '/');
  await records.getByRole('link', { name: 'Sign in' }).click();
  await records.waitForURL(`${appURL}/orgs/${org}/records`);
  expectIncludes(await text(records.locator('header')), admin.user, 'the records app after single sign-on');
  await records.close();

  t.step('a link to the console from another site opens it, signed in');
  const elsewhere = await browser.newPage();
  await elsewhere.goto(`data:text/html,<a id="go" href="${consoleURL(`/orgs/${org}/users`)}">console</a>`);
  await elsewhere.click('#go');
  await elsewhere.waitForLoadState();
  expectEqual(new URL(elsewhere.url()).pathname, `/console/orgs/${org}/users`, 'where a link from another site lands');
  await elsewhere.close();

  t.step('another org\'s pages answer like missing ones');
  expectStatus(await page.goto(consoleURL(`/orgs/${other}/users`)), 404, `${other}'s users as ${org}'s administrator`);

  t.step('create a confidential client: the secret is shown once and works');
  await page.goto(consoleURL(`/orgs/${org}/clients`));
  await expectLabelled(page, 'the clients page');
  const clientID = `worker-${id}`;
  await page.getByLabel('Client ID').fill(clientID);
  await page.getByLabel('Name', { exact: true }).fill('Nightly worker');
  const created = await submitConsole(page, () => page.getByRole('button', { name: 'Create client' }).click());
  expectStatus(created, 201, 'creating the client');
  const secret = await page.getByLabel('Client secret').inputValue();
  expect(secret.length >= 32, `the secret shown is ${secret.length} characters`);
  await t.screenshot(page, 'console-client-secret');
  const tok = await page.request.post(`${latchURL}/oauth2/token`, {
    form: { grant_type: 'client_credentials' },
    headers: { Authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(clientID)}:${encodeURIComponent(secret)}`).toString('base64') },
  });
  expectStatus(tok, 200, 'a client_credentials token with the secret the console showed');
  await page.goto(consoleURL(`/orgs/${org}/clients/${clientID}`));
  expectExcludes(await page.content(), secret, 'the client\'s page after the secret was shown');

  t.step('create a user');
  await page.goto(consoleURL(`/orgs/${org}/users`));
  await expectLabelled(page, 'the users page');
  const userID = `dora-${id}`;
  const userPassword = `dora has a long password ${id}`;
  await page.getByLabel('ID', { exact: true }).fill(userID);
  await page.getByLabel('Username').fill(userID);
  await page.getByLabel('Password').fill(userPassword);
  await page.getByLabel('Roles').fill('member');
  await submitConsole(page, () => page.getByRole('button', { name: 'Create user' }).click());
  expectIncludes(await text(page.locator('#notice')), 'Created.', 'the notice after creating the user');
  expectEqual(new URL(page.url()).pathname, `/console/orgs/${org}/users/${userID}`, 'where creating a user lands');

  // decide runs "test a request" and returns { allowed, reason, explanation }.
  const decide = async (method, path) => {
    await page.goto(consoleURL(`/orgs/${org}/test`));
    await page.getByLabel('Who').selectOption(`user:${userID}`);
    await page.getByLabel('Method').fill(method);
    await page.getByLabel('Path').fill(path);
    await submitConsole(page, () => page.getByRole('button', { name: 'Decide' }).click());
    await expectVisible(page.locator('#decision'), 'the decision');
    return {
      allowed: (await text(page.locator('#decision h2'))) === 'Allowed',
      reason: await text(page.locator('#decision-reason')),
      explanation: await text(page.locator('#decision-explanation')),
    };
  };
  const target = `/orgs/${org}/records/${id}`;

  t.step(`test a request: DELETE ${target} before any statement allows it`);
  const before = await decide('DELETE', target);
  expect(!before.allowed, `DELETE was allowed before the statement: ${JSON.stringify(before)}`);
  await t.screenshot(page, 'console-test-denied');

  t.step('allow it with a statement on the user');
  await page.goto(consoleURL(`/orgs/${org}/users/${userID}`));
  await page.getByLabel('Allow statements').fill('DELETE /orgs/{org}/records/**');
  await submitConsole(page, () => page.getByRole('button', { name: 'Save' }).click());
  expectIncludes(await text(page.locator('#notice')), 'Saved.', 'the notice after saving the statement');
  await t.screenshot(page, 'console-user');

  t.step('test the same request again: allowed, and explained by the new statement');
  const after = await decide('DELETE', target);
  expect(after.allowed, `DELETE is not allowed after the statement: ${JSON.stringify(after)}`);
  expectIncludes(after.explanation, 'DELETE /orgs/{org}/records/**', 'the explanation names the statement');
  await t.screenshot(page, 'console-test-allowed');

  t.step('keyboard: the skip link first, then the navigation; every field labelled');
  await expectTabOrder(page, ['a.skip', 'a.brand', '#signout button'], 'the console\'s first Tab stops');
  await expectLabelled(page, 'the test page');

  t.step('the console lists the administrator\'s own sessions');
  await page.goto(consoleURL(`/orgs/${org}/users/${admin.user}`));
  const sessions = page.locator('#sessions tbody tr');
  expect((await sessions.count()) >= 1, 'the administrator\'s own sessions are listed');
  expectIncludes(await text(page.locator('#sessions')), 'Latch sign-in', 'the login session is listed');

  t.step('phone width: no horizontal scrolling');
  const phone = await browser.newPage(PHONE);
  await phone.goto(consoleURL(`/orgs/${org}/users/${userID}`));
  await expectNoHorizontalScroll(phone, 'the user page at 390 px');
  await t.screenshot(phone, 'console-user-phone');
  await phone.goto(consoleURL(`/orgs/${org}/test`));
  await expectNoHorizontalScroll(phone, 'the test page at 390 px');

  t.step('revoking every session of the administrator ends the console session');
  await page.goto(consoleURL(`/orgs/${org}/users/${admin.user}`));
  await submitConsole(page, () => page.getByRole('button', { name: 'Revoke every session and token' }).click());
  await page.goto(consoleURL(`/orgs/${org}/users`));
  expectEqual(new URL(page.url()).pathname, '/oauth2/authorize', 'the console after its own token was revoked: back to the hosted login');
  await browser.close();
}
