// a11y: every kind of page a person sees (Latch's hosted login, the records
// app, the console) passes axe-core's WCAG 2.1 A and AA rules (contrast,
// labels, landmarks, names of links and buttons, language, ...), on a
// desktop and on a phone, in light and dark colour schemes.

import { DESKTOP, PHONE, expect, expectAccessible } from './lib.mjs';
import { loginError, records, startSignIn, submitOrg, submitPassword, unique } from './hosted.mjs';

export const description = 'axe-core finds no WCAG 2.1 A/AA violation on the hosted login, the records app and the console';

export async function run(t) {
  const env = records(t);
  const org = t.env('CONSOLE_ORG');
  const admin = { user: t.env('CONSOLE_USER'), password: t.env('CONSOLE_PASSWORD') };
  const consoleURL = (path) => `${env.latchURL}/console${path}`;

  for (const [name, viewport, colorScheme] of [['desktop, light', DESKTOP, 'light'], ['phone, dark', PHONE, 'dark']]) {
    const browser = await t.launch({ viewport });
    const page = await browser.newPage();
    await page.emulateMedia({ colorScheme });
    const check = async (what) => expectAccessible(page, `${what} (${name})`);

    t.step(`${name}: the hosted login and the records app`);
    await page.goto(env.appURL + '/');
    await check('the records home page');
    await startSignIn(page, env);
    await check('the organization step');
    await submitOrg(page, env.a.org);
    await check('the password step');
    await submitPassword(page, env.a.user, 'not the password');
    expect((await loginError(page).count()) === 1, 'the wrong password shows an error');
    await check('the password step with an error');
    await submitPassword(page, env.a.user, env.a.password);
    await page.waitForURL(`${env.appURL}/orgs/${env.a.org}/records`);
    await check('the records list');
    await page.goto(`${env.appURL}/orgs/${env.b.org}/records`);
    await check('the refusal page');

    t.step(`${name}: the console`);
    const con = await t.launch({ viewport });
    const cp = await con.newPage();
    await cp.emulateMedia({ colorScheme });
    await cp.goto(consoleURL('/'));
    await submitOrg(cp, org);
    await submitPassword(cp, admin.user, admin.password);
    await cp.waitForURL(consoleURL('/'));
    const pages = [
      ['/', 'the home page'],
      [`/orgs/${org}`, 'the org settings'],
      [`/orgs/${org}/users`, 'the users page'],
      [`/orgs/${org}/users/${admin.user}`, 'a user page'],
      [`/orgs/${org}/clients`, 'the clients page'],
      [`/orgs/${org}/roles`, 'the roles page'],
      [`/orgs/${org}/roles/member`, 'a role page'],
      ['/audiences', 'the audiences page'],
      ['/audiences/records', 'an audience page'],
      [`/orgs/${org}/test`, 'the test page'],
    ];
    for (const [path, what] of pages) {
      await cp.goto(consoleURL(path));
      await expectAccessible(cp, `the console's ${what} (${name})`);
    }
    t.step(`${name}: a new client's secret page and the client's page`);
    await cp.goto(consoleURL(`/orgs/${org}/clients`));
    const clientID = `a11y-${unique()}`;
    await cp.getByLabel('Client ID').fill(clientID);
    await Promise.all([cp.waitForURL(consoleURL(`/orgs/${org}/clients`)), cp.getByRole('button', { name: 'Create client' }).click()]);
    await cp.getByLabel('Client secret').waitFor();
    await expectAccessible(cp, `the console's secret page (${name})`);
    await cp.goto(consoleURL(`/orgs/${org}/clients/${clientID}`));
    await expectAccessible(cp, `the console's client page (${name})`);

    await cp.goto(consoleURL(`/orgs/${org}/test`));
    await cp.getByLabel('Method').fill('GET');
    await cp.getByLabel('Path').fill(`/orgs/${org}/records`);
    await Promise.all([cp.waitForLoadState(), cp.getByRole('button', { name: 'Decide' }).click()]);
    await cp.locator('#decision').waitFor();
    await expectAccessible(cp, `the console's decision (${name})`);
    await cp.goto(consoleURL(`/orgs/${env.b.org}`));
    await expectAccessible(cp, `the console's not-found page (${name})`);
    await con.close();
    await browser.close();
  }
}
