// The publisher's side of the browser test (tests/e2e/browser.sh starts the
// servers and runs this after reader.mjs): headless Chromium (Debian's,
// through playwright-core) uses the admin UI of a running `bulletin serve`
// as a publisher would: log in, create a list, import a CSV into it (and
// watch the job finish), compose a post, check the email preview in its
// sandboxed iframe, send the post and watch the progress bar reach 100%
// (admin.js polls progress.json). Screenshots go to BL_E2E_SHOTS.
//
// Output: TAP results without numbers; browser.sh numbers them. A failed
// step ends the scenario. Exit status 1 when anything failed.
//
// Environment: BL_E2E_BASE, BL_E2E_SHOTS, BL_E2E_WORK, BL_CHROMIUM as for
// reader.mjs; BL_E2E_ADMIN_PASSWORD (the password of user "admin").
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

function need(name) {
	const v = process.env[name];
	if (!v) {
		console.log(`not ok - environment: ${name} is not set`);
		process.exit(1);
	}
	return v;
}
const BASE = need('BL_E2E_BASE');
const SHOTS = need('BL_E2E_SHOTS');
const WORK = need('BL_E2E_WORK');
const PASSWORD = need('BL_E2E_ADMIN_PASSWORD');
const CHROMIUM = process.env.BL_CHROMIUM || '/usr/bin/chromium';

let failures = 0;
function ok(desc) {
	console.log(`ok - ${desc}`);
}
function notOk(desc, ...diag) {
	failures++;
	console.log(`not ok - ${desc}`);
	for (const d of diag)
		for (const line of String(d).split('\n')) console.log(`# ${line}`);
}
class Stop extends Error {}
async function step(desc, fn) {
	let r;
	try {
		r = await fn();
	} catch (e) {
		notOk(desc, e && e.stack ? e.stack : e);
		throw new Stop(desc);
	}
	ok(desc);
	return r;
}
function expectEq(what, got, want) {
	if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

fs.mkdirSync(SHOTS, { recursive: true });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
// failed loads are reported by URL below (the browser's own /favicon.ico is no page's)
page.on('console', (m) => {
	if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
});
// refusals the scenario provokes on purpose ("STATUS PATH"), not failures
const expected = new Set(['422 /admin/posts/new']);
page.on('response', (r) => {
	const p = new URL(r.url()).pathname;
	if (r.status() >= 400 && p !== '/favicon.ico' && !expected.has(`${r.status()} ${p}`))
		errors.push(`${r.status()} for ${r.url()}`);
});
async function shot(name) {
	await page.screenshot({ path: path.join(SHOTS, `admin-${name}.png`), fullPage: true });
}

try {
	await step('GET /admin without a session leads to the login page', async () => {
		await page.goto(`${BASE}/admin`);
		expectEq('path', new URL(page.url()).pathname, '/admin/login');
		await shot('login');
	});
	await step('log in as admin', async () => {
		await page.getByLabel('User name').fill('admin');
		await page.getByLabel('Password').fill(PASSWORD);
		await Promise.all([page.waitForURL(`${BASE}/admin`), page.getByRole('button', { name: 'Log in' }).click()]);
		expectEq('heading', await page.locator('h1').innerText(), 'Dashboard');
		await shot('dashboard');
	});
	await step('create a list', async () => {
		await page.goto(`${BASE}/admin/lists/new`);
		await page.getByLabel('Slug').fill('e2e');
		await page.getByLabel('Name', { exact: true }).fill('E2E Letters');
		await page.getByLabel('Single: subscribed at once').check();
		await shot('list-new');
		await Promise.all([page.waitForURL(/\/admin\/lists\?done=created&slug=e2e$/), page.getByRole('button', { name: 'Create list' }).click()]);
		if (!(await page.locator('main').innerText()).includes('E2E Letters')) throw new Error('the list is not listed');
		expectEq('notice', await page.locator('.notice').innerText(), 'List \u201cE2E Letters\u201d created.');
		await shot('lists');
	});
	await step('import a CSV and watch the job finish', async () => {
		const csv = path.join(WORK, 'e2e-import.csv');
		fs.writeFileSync(csv, 'email,name\nann@example.org,Ann\nbob@example.org,Bob\ncyd@example.org,Cyd\n');
		await page.goto(`${BASE}/admin/import`);
		await page.getByLabel('Into the list').selectOption('e2e');
		await page.getByLabel(/CSV file/).setInputFiles(csv);
		await page.getByLabel(/confirmed their subscription/).check();
		await Promise.all([page.waitForURL(/\/admin\/jobs\/\d+$/), page.getByRole('button', { name: 'Import' }).click()]);
		await page.waitForFunction(() => {
			const s = document.querySelector('[data-field="state"]');
			return s && s.textContent === 'done';
		}, null, { timeout: 60000 });
		// the report as a table, after the page reloaded itself
		await page.locator('table.report').waitFor({ timeout: 10000 });
		const rep = await page.locator('table.report').innerText();
		if (!/Imported[^\n]*\t3/.test(rep)) throw new Error(`report: got ${JSON.stringify(rep)}`);
		await shot('import-job');
	});
	let postUrl;
	await step('compose a post and save it as a draft', async () => {
		await page.goto(`${BASE}/admin/posts/new`);
		await page.getByLabel('Subject').fill('Tide tables for next week');
		// the composer offers the list (it used to say there was none) and refuses a body
		// whose Mustache does not compile, saying on which line
		if ((await page.locator('main').innerText()).includes('There is no list to send to yet'))
			throw new Error('the composer says there is no list');
		await page.getByLabel(/^Body/).fill('Hi {{#subscriber.name}}there');
		await page.getByLabel(/E2E Letters/).check();
		await page.getByRole('button', { name: 'Save draft' }).click();
		const err = await page.locator('p.error').innerText();
		if (!err.includes('The body cannot be composed: line 1:')) throw new Error(`composer error: got ${JSON.stringify(err)}`);
		await shot('composer-error');
		await page.getByLabel(/^Body/).fill('Hello {{subscriber.name}},\n\nThe **spring tide** comes on Tuesday.');
		await page.getByLabel(/E2E Letters/).check();
		await shot('composer');
		await Promise.all([page.waitForURL(/\/admin\/posts\/\d+\?done=draft$/), page.getByRole('button', { name: 'Save draft' }).click()]);
		postUrl = page.url().replace(/\?.*$/, '');
		expectEq('notice', await page.locator('.notice').innerText(), 'Post \u201cTide tables for next week\u201d saved as a draft.');
	});
	await step('the preview iframe shows the email as a subscriber gets it', async () => {
		const frame = page.frameLocator('iframe.preview');
		await frame.locator('strong', { hasText: 'spring tide' }).waitFor({ timeout: 10000 });
		const sandbox = await page.locator('iframe.preview').getAttribute('sandbox');
		expectEq('sandbox attribute', sandbox, '');
		await shot('post-draft');
	});
	await step('Send asks first, naming the subject, the count and the list', async () => {
		await Promise.all([page.waitForURL(`${postUrl}/send`), page.getByRole('link', { name: 'Send', exact: true }).click()]);
		const q = await page.locator('.confirm-question').innerText();
		expectEq('question', q, 'Send \u201cTide tables for next week\u201d to 3 subscribers of \u201cE2E Letters\u201d?');
		await shot('post-send-confirm');
	});
	await step('send the post and watch the progress bar reach 100%', async () => {
		await Promise.all([page.waitForURL(/\/admin\/posts\/\d+\?done=send$/), page.getByRole('button', { name: 'Yes, send it' }).click()]);
		await page.waitForFunction(() => {
			const p = document.querySelector('#post-progress');
			return p && p.max > 1 && p.value === p.max;
		}, null, { timeout: 120000 });
		expectEq('percent', await page.locator('[data-field="percent"]').innerText(), '100');
	});
	await step('when the post is sent the page shows it without a reload by hand', async () => {
		// admin.js reloads the page when the status leaves "sending"
		await page.waitForFunction(() => {
			const b = document.querySelector('h1 + p .badge');
			return b && b.textContent === 'sent';
		}, null, { timeout: 120000 });
		const main = await page.locator('main').innerText();
		if (main.includes('msgs/s') || main.includes('ETA')) throw new Error('a sent post shows its rate or ETA');
		if ((await page.getByRole('button', { name: 'Pause' }).count()) > 0) throw new Error('a sent post offers Pause');
		if ((await page.locator('#actions-h').count()) > 0) throw new Error('an empty Actions heading');
		if ((await page.locator('.notice').count()) > 0) throw new Error('a stale notice after the reload');
		await shot('post-sent');
	});
	await step('no script errors or failed loads on the admin pages', async () => {
		if (errors.length) throw new Error(errors.join('\n'));
	});
} catch (e) {
	if (!(e instanceof Stop)) notOk('admin scenario', e && e.stack ? e.stack : e);
}
await browser.close();
process.exit(failures ? 1 : 0);
