// keyboard: Latch's hosted login with the keyboard only and on a phone.
// Tab from the top of each step reaches its fields and button in order,
// Enter submits, every field has a label, and at 390 px nothing scrolls
// sideways (the organization step, the password step, its error state, the
// records pages).

import {
  DESKTOP, PHONE, activeElement, expect, expectEqual, expectLabelled, expectNoHorizontalScroll, expectTabOrder, expectURL, text,
} from './lib.mjs';
import { BAD_LOGIN, expectPasswordStep, expectRecordsList, loginError, records, startSignIn, submitLogin } from './hosted.mjs';

export const description = 'the hosted login by keyboard (Tab order, Enter), labelled fields, no sideways scrolling at 390 px';

export async function run(t) {
  const env = records(t);
  const { a } = env;

  for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    const browser = await t.launch({ viewport });
    const page = await browser.newPage(viewport);
    const wide = (what) => (viewport.width <= PHONE.width ? expectNoHorizontalScroll(page, `${what} at ${viewport.width} px`) : null);

    t.step(`${label}: the organization step: focus, Tab order, labels`);
    await startSignIn(page, env);
    expectEqual((await activeElement(page)).id, 'organization', 'the focus when the organization step opens (autofocus)');
    await expectTabOrder(page, ['#organization', page.getByRole('button', { name: 'Continue', exact: true })], 'the organization step');
    await expectLabelled(page, 'the organization step');
    expectEqual(await page.getByLabel('Organization', { exact: true }).getAttribute('id'), 'organization', 'getByLabel("Organization")');
    await wide('the organization step');
    if (label === 'phone') await t.screenshot(page, 'keyboard-org-step-phone');

    t.step(`${label}: type the organization, Enter`);
    await page.locator('#organization').focus();
    await page.keyboard.type(a.org);
    expectEqual((await submitLogin(page, () => page.keyboard.press('Enter'))).status(), 200, 'Enter on the organization step');
    await expectPasswordStep(page, a.org);

    t.step(`${label}: the password step: focus, Tab order, labels`);
    expectEqual((await activeElement(page)).id, 'username', 'the focus when the password step opens (autofocus)');
    await expectTabOrder(page, [
      '#username', '#password', page.getByRole('button', { name: 'Sign in', exact: true }),
      page.getByRole('button', { name: 'Use another organization', exact: true }),
    ], 'the password step');
    await expectLabelled(page, 'the password step');
    await wide('the password step');

    t.step(`${label}: a wrong password by keyboard, Enter: the error, and the focus on the password`);
    await page.locator('#username').focus();
    await page.keyboard.type(a.user);
    await page.keyboard.press('Tab');
    await page.keyboard.type(`wrong ${a.password}`);
    expectEqual((await submitLogin(page, () => page.keyboard.press('Enter'))).status(), 200, 'Enter after a wrong password');
    await expectPasswordStep(page, a.org);
    expectEqual(await text(loginError(page)), BAD_LOGIN, 'the error after a wrong password');
    expectEqual((await activeElement(page)).id, 'password', 'the focus after a wrong password (the username is kept)');
    const describedBy = (await page.locator('#password').getAttribute('aria-describedby')) || '';
    expect(describedBy.split(/\s+/).includes('form-error'), `the password field is not described by the error (aria-describedby=${JSON.stringify(describedBy)})`);
    await expectLabelled(page, 'the password step with an error');
    await wide('the password step with an error');
    if (label === 'phone') await t.screenshot(page, 'keyboard-error-phone');

    t.step(`${label}: the right password, Enter: signed in`);
    await page.keyboard.type(a.password);
    expectEqual((await submitLogin(page, () => page.keyboard.press('Enter'))).status(), 303, 'Enter with the right password');
    await page.waitForURL(`${env.appURL}/orgs/${a.org}/records`);
    expectURL(page, `${env.appURL}/orgs/${a.org}/records`, 'after Enter on the password step');
    await expectRecordsList(page, a);
    await expectLabelled(page, "the records list's add form");
    await wide('the records list');
    await browser.close();
  }
}
