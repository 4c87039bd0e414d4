// records: a member of one org signs in through Latch's hosted login, lists
// and adds her org's records, and cannot read or write another org's,
// neither by URL nor by a tampered form.

import {
  DESKTOP, PHONE, bodyText, expect, expectEqual, expectExcludes, expectIncludes, expectNoHorizontalScroll, expectStatus, navigation, text,
} from './lib.mjs';
import {
  addRecord, expectOrgStep, expectPasswordStep, expectRecordsList, recordTitles, records, signIn, startSignIn, submitOrg, submitPassword, unique,
} from './hosted.mjs';

export const description = "sign in as a member of org A, add a record, and be refused org B's records by URL and by a tampered form";

export async function run(t) {
  const env = records(t);
  const { a, b } = env;
  const id = unique();
  const seeded = `Plans of ${b.org} ${id}`;
  const mine = `Note of ${a.user} ${id}`;
  const planted = `Planted by ${a.user} ${id}`;
  const orgField = `Org field ${b.org} ${id}`;

  t.step(`${b.user} of ${b.org} signs in and adds a record (what ${a.user} must never see)`);
  const seeder = await t.launch();
  const sp = await seeder.newPage();
  await signIn(sp, env, b);
  expectStatus(await addRecord(sp, seeded, `secret text of ${b.org}`), 303, `${b.user} adds a record`);
  await expectRecordsList(sp, b);
  expect((await recordTitles(sp)).includes(seeded), `${b.user}'s new record is not listed: ${await recordTitles(sp)}`);
  await seeder.close();

  t.step(`${a.user}: the home page, "Sign in", Latch's organization step`);
  const browser = await t.launch({ viewport: DESKTOP });
  const page = await browser.newPage();
  await page.goto(env.appURL + '/');
  expectIncludes(await bodyText(page), 'Sign in with your organization', 'the home page, signed out');
  await t.screenshot(page, 'records-home');
  await startSignIn(page, env);
  await t.screenshot(page, 'records-org-step');

  t.step(`organization "${a.org}", then the password step as ${a.user}`);
  expectStatus(await submitOrg(page, a.org), 200, 'the organization step');
  await expectPasswordStep(page, a.org);
  await t.screenshot(page, 'records-password-step');
  expectStatus(await submitPassword(page, a.user, a.password), 303, 'the password step');
  await page.waitForURL(`${env.appURL}/orgs/${a.org}/records`);
  await expectRecordsList(page, a);
  await t.screenshot(page, 'records-list');

  t.step('add a record through the form; it is listed');
  const before = await recordTitles(page);
  expectStatus(await addRecord(page, mine, 'hello from the browser'), 303, 'adding a record');
  await page.waitForURL(`${env.appURL}/orgs/${a.org}/records`);
  const after = await recordTitles(page);
  expect(after.includes(mine), `the new record "${mine}" is not listed: ${JSON.stringify(after)}`);
  expectEqual(after.length, before.length + 1, 'records listed after adding one');
  expectEqual(await text(page.locator('h2#list')), `${after.length} record${after.length === 1 ? '' : 's'}`, 'the count above the list');
  expectExcludes(after.join('\n'), seeded, `${a.org}'s list shows ${b.org}'s record`);
  await navigation(page, () => page.getByRole('link', { name: mine }).click());
  expectEqual(await text(page.locator('main h1')), mine, "the record's page");
  expectIncludes(await text(page.locator('main .text')), 'hello from the browser', "the record's text");
  await t.screenshot(page, 'records-record');

  t.step(`open ${b.org}'s records by URL: refused`);
  const refused = await page.goto(`${env.appURL}/orgs/${b.org}/records`);
  expectStatus(refused, 403, `GET /orgs/${b.org}/records as ${a.user}`);
  expectEqual(await text(page.locator('main h1')), 'Not allowed', 'the refusal page');
  const refusedText = await bodyText(page);
  expectExcludes(refusedText, seeded, `the refusal page leaks ${b.org}'s record`);
  expectExcludes(await page.content(), seeded, `the refusal page's HTML leaks ${b.org}'s record`);
  expectEqual(await page.locator('ul.records li').count(), 0, 'records listed on the refusal page');
  await t.screenshot(page, 'records-forbidden');

  t.step(`the add form of ${a.org}, its action tampered to ${b.org}: refused, nothing added`);
  await page.goto(`${env.appURL}/orgs/${a.org}/records`);
  await expectRecordsList(page, a);
  await page.evaluate((org) => {
    const f = document.querySelector('main form[method=post]');
    f.setAttribute('action', `/orgs/${org}/records`);
  }, b.org);
  const tampered = await addRecord(page, planted, `written by ${a.user} into ${b.org}`);
  expectStatus(tampered, 403, `POST /orgs/${b.org}/records with ${a.org}'s form and CSRF token`);
  expectEqual(await text(page.locator('main h1')), 'Not allowed', 'the refusal of the tampered form');
  expectExcludes(await bodyText(page), seeded, `the refusal of the tampered form leaks ${b.org}'s record`);

  t.step(`the add form with a hidden field org=${b.org}: the URL's org decides, the record lands in ${a.org}`);
  await page.goto(`${env.appURL}/orgs/${a.org}/records`);
  await page.evaluate((org) => {
    const f = document.querySelector('main form[method=post]');
    const i = document.createElement('input');
    Object.assign(i, { type: 'hidden', name: 'org', value: org });
    f.append(i);
  }, b.org);
  expectStatus(await addRecord(page, orgField, 'an org field that is ignored'), 303, `POST with org=${b.org}`);
  await page.waitForURL(`${env.appURL}/orgs/${a.org}/records`);
  expect((await recordTitles(page)).includes(orgField), `the record with org=${b.org} is not in ${a.org}'s list`);
  expectExcludes((await recordTitles(page)).join('\n'), planted, `${a.org}'s list shows the refused record`);

  t.step('the records list on a phone (390 px): no horizontal scrolling');
  const phone = await browser.newPage(PHONE);
  await phone.goto(`${env.appURL}/orgs/${a.org}/records`);
  await expectRecordsList(phone, a);
  await expectNoHorizontalScroll(phone, 'the records list at 390 px');
  await t.screenshot(phone, 'records-list-phone');
  await browser.close();

  t.step(`a fresh browser on a phone: the password step, then ${b.user} lists ${b.org}: the planted record is absent`);
  const fresh = await t.launch({ viewport: PHONE });
  const gp = await fresh.newPage(PHONE);
  await startSignIn(gp, env);
  await expectNoHorizontalScroll(gp, "Latch's organization step at 390 px");
  expectStatus(await submitOrg(gp, b.org), 200, 'the organization step');
  await expectPasswordStep(gp, b.org);
  await expectNoHorizontalScroll(gp, "Latch's password step at 390 px");
  await t.screenshot(gp, 'records-password-step-phone');
  expectStatus(await submitPassword(gp, b.user, b.password), 303, 'the password step');
  await gp.waitForURL(`${env.appURL}/orgs/${b.org}/records`);
  await expectRecordsList(gp, b);
  const globex = await recordTitles(gp);
  expect(globex.includes(seeded), `${b.org}'s own record "${seeded}" is not listed: ${JSON.stringify(globex)}`);
  for (const title of [planted, orgField, mine]) {
    expect(!globex.includes(title), `${b.org}'s list holds "${title}", which ${a.user} wrote: ${JSON.stringify(globex)}`);
  }
  await t.screenshot(gp, 'records-list-globex-phone');
  await fresh.close();
}
