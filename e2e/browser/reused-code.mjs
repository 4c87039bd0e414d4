// reused-code: the records app's OAuth callback URL (with its one-time
// authorization code) opened again after the sign-in completed.
//
// What happens, step by step:
//  1. The exact callback URL again, in a new tab of the same browser: the
//     app took (and forgot) its pending login on the first callback, so the
//     state matches nothing and the app refuses it (400 "Sign-in failed")
//     before Latch is asked. Latch never sees the code again.
//  2. The same code with a fresh state (a new /login of this browser, whose
//     redirect to Latch is not followed): now the app does redeem the old
//     code, with the new login's PKCE verifier, and Latch refuses it
//     (invalid_grant), so the app shows "Sign-in failed" (502).
//  3. Latch's token endpoint directly, the code with a made-up verifier:
//     invalid_grant.
// Latch revokes what a replayed code issued only when the replay is
// otherwise valid (same client, redirect URI and PKCE verifier). None of
// these replays can be: the verifier lived only in the app's first pending
// login, which is gone. So the first sign-in is not ended: the app's
// session and its access token keep working, and the scenario asserts so.

import { bodyText, expect, expectEqual, expectExcludes, expectIncludes, expectStatus } from './lib.mjs';
import { expectPasswordStep, expectRecordsList, records, startSignIn, submitOrg, submitPassword } from './hosted.mjs';

export const description = "the app's callback URL with a used code, opened again: refused; the first sign-in goes on";

export async function run(t) {
  const env = records(t);
  const { a } = env;
  const listURL = `${env.appURL}/orgs/${a.org}/records`;
  const browser = await t.launch();
  const page = await browser.newPage();

  t.step(`${a.user} signs in; the browser records the callback URL with the code`);
  await startSignIn(page, env);
  expectStatus(await submitOrg(page, a.org), 200, 'the organization step');
  await expectPasswordStep(page, a.org);
  const isCallback = (r) => r.url().startsWith(`${env.appURL}/callback?`) && new URL(r.url()).searchParams.has('code');
  const callbackRequest = page.waitForRequest(isCallback);
  const callbackResponse = page.waitForResponse((r) => isCallback(r.request()));
  expectStatus(await submitPassword(page, a.user, a.password), 303, 'the password step');
  const callbackURL = (await callbackRequest).url();
  const first = await callbackResponse;
  expectStatus(first, 303, 'the first callback');
  expectEqual(await first.headerValue('location'), `/orgs/${a.org}/records`, "the first callback's redirect");
  await page.waitForURL(listURL);
  await expectRecordsList(page, a);
  const cb = new URL(callbackURL);
  const code = cb.searchParams.get('code');
  expect(code && cb.searchParams.get('state'), `the callback URL lacks a code or a state: ${callbackURL}`);
  t.log(`callback: ${cb.origin}${cb.pathname}?code=…&state=…${cb.searchParams.has('iss') ? '&iss=…' : ''}`);

  // The app's failure page, with no records; the header still names the
  // user of the session this browser already has (a failed callback does
  // not end it).
  const expectSignInFailed = async (p, resp, status, what) => {
    expectStatus(resp, status, what);
    expectEqual((await p.locator('main h1').innerText()).trim(), 'Sign-in failed', `${what}: the heading`);
    const body = await bodyText(p);
    expectExcludes(body, `Records of ${a.org}`, `${what}: the page`);
    expectIncludes(await p.locator('header .who').innerText(), a.user, `${what}: the signed-in user in the header`);
    expectEqual(await p.locator('ul.records').count(), 0, `${what}: a records list`);
  };

  t.step('the exact callback URL again, in a new tab: refused by the app (its pending login is used up)');
  const replay = await browser.newPage();
  await expectSignInFailed(replay, await replay.goto(callbackURL), 400, 'the callback replayed');
  await t.screenshot(replay, 'reused-code-replay');

  t.step('the first sign-in still works (Latch was not asked, so revoked nothing)');
  expectStatus(await page.reload(), 200, `${a.org}'s records after the replay`);
  await expectRecordsList(page, a);

  t.step('the same code with a fresh state of this browser: the app redeems it, Latch refuses it');
  const login = await browser.context.request.get(`${env.appURL}/login`, { maxRedirects: 0 });
  expectEqual(login.status(), 303, 'GET /login');
  const authorize = new URL(login.headers().location);
  const injected = new URL(callbackURL);
  injected.searchParams.set('state', authorize.searchParams.get('state'));
  const replay2 = await browser.newPage();
  await expectSignInFailed(replay2, await replay2.goto(injected.href), 502, 'the used code with a fresh state');

  t.step("Latch's token endpoint, directly: the used code is invalid_grant");
  const token = await browser.context.request.post(`${env.latchURL}/oauth2/token`, {
    form: {
      grant_type: 'authorization_code', code, client_id: 'records-app', redirect_uri: `${env.appURL}/callback`,
      code_verifier: 'a-made-up-verifier-of-forty-three-characters-or-more',
    },
  });
  expectEqual(token.status(), 400, 'the token endpoint, the used code');
  expectEqual((await token.json()).error, 'invalid_grant', "the token endpoint's error");

  t.step('the first sign-in still works after both replays');
  expectStatus(await page.goto(listURL), 200, `${a.org}'s records after the replays`);
  await expectRecordsList(page, a);
  await t.screenshot(page, 'reused-code-still-signed-in');
}
