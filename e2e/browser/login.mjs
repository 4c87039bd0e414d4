// login: Latch's hosted login answers a wrong password, an unknown username
// and an unknown organization identically (same error text, same status),
// so the pages never tell which accounts or organizations exist.

import { expect, expectEqual, expectStatus, expectURL, text } from './lib.mjs';
import {
  BAD_LOGIN, expectPasswordStep, loginError, onLatch, passwordField, records, startSignIn, submitOrg, submitPassword, unique, usernameField,
} from './hosted.mjs';

export const description = 'a wrong password, an unknown username and an unknown organization get the same error text and status';

export async function run(t) {
  const env = records(t);
  const { a } = env;
  const id = unique();
  const browser = await t.launch();
  const page = await browser.newPage();

  // attempt submits the password step and returns what the browser got.
  const attempt = async (user, password) => {
    const resp = await submitPassword(page, user, password);
    expect(onLatch(page, env), `a failed sign-in left Latch for ${page.url()}`);
    await expectPasswordStep(page);
    const error = loginError(page);
    expectEqual(await error.count(), 1, 'error messages on the page');
    return {
      status: resp.status(),
      error: await text(error),
      role: await error.getAttribute('role'),
      // The fields as the page comes back: the username kept, the password empty.
      username: await usernameField(page).inputValue(),
      password: await passwordField(page).inputValue(),
      url: page.url(),
    };
  };

  t.step(`organization ${a.org}, ${a.user} with a wrong password`);
  await startSignIn(page, env);
  expectStatus(await submitOrg(page, a.org), 200, 'the organization step');
  await expectPasswordStep(page, a.org);
  const wrongPassword = await attempt(a.user, `not ${a.user}'s password ${id}`);
  await t.screenshot(page, 'login-error');

  t.step(`organization ${a.org}, an unknown username`);
  const unknownUser = await attempt(`nobody-${id}`, a.password);

  t.step('an unknown organization, with a real username and password');
  await startSignIn(page, env);
  expectStatus(await submitOrg(page, `initech-${id}`), 200, 'the organization step (any well-formed id moves on)');
  await expectPasswordStep(page, `initech-${id}`);
  const unknownOrg = await attempt(a.user, a.password);

  t.step('the three answers are the same');
  for (const [what, got] of [['a wrong password', wrongPassword], ['an unknown username', unknownUser], ['an unknown organization', unknownOrg]]) {
    t.log(`${what}: ${got.status}, ${JSON.stringify(got.error)}`);
    expectEqual(got.error, BAD_LOGIN, `the error for ${what}`);
    expectEqual(got.role, 'alert', `the error element's role for ${what}`);
    expectEqual(got.password, '', `the password field after ${what}`);
  }
  expectEqual(unknownUser.error, wrongPassword.error, 'the error for an unknown username and for a wrong password');
  expectEqual(unknownUser.status, wrongPassword.status, 'the status for an unknown username and for a wrong password');
  expectEqual(unknownOrg.error, wrongPassword.error, 'the error for an unknown organization and for a wrong password');
  expectEqual(unknownOrg.status, wrongPassword.status, 'the status for an unknown organization and for a wrong password');
  expectEqual(wrongPassword.status, 200, 'the status of a failed sign-in (the page again, not a redirect)');
  expectEqual(wrongPassword.username, a.user, 'the username kept after a wrong password');
  expectEqual(unknownUser.username, `nobody-${id}`, 'the username kept after an unknown username');

  t.step('after the failures, the right password still signs in');
  await startSignIn(page, env);
  expectStatus(await submitOrg(page, a.org), 200, 'the organization step');
  const ok = await submitPassword(page, a.user, a.password);
  expectStatus(ok, 303, 'the right password');
  await page.waitForURL(`${env.appURL}/orgs/${a.org}/records`);
  expectURL(page, `${env.appURL}/orgs/${a.org}/records`, 'after signing in');
}
