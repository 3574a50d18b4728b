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
page.on('response', (r) => {
	if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico')
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
		await Promise.all([page.waitForURL(/\/admin\/lists\?done=created$/), page.getByRole('button', { name: 'Create list' }).click()]);
		if (!(await page.locator('main').innerText()).includes('E2E Letters')) throw new Error('the list is not listed');
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
		await shot('import-job');
	});
	let postUrl;
	await step('compose a post and save it as a draft', async () => {
		await page.goto(`${BASE}/admin/posts/new`);
		await page.getByLabel('Subject').fill('Tide tables for next week');
		await page.getByLabel(/^Body/).fill('Hello {{name}},\n\nThe **spring tide** comes on Tuesday.');
		await page.getByLabel(/E2E Letters/).check();
		await shot('composer');
		await Promise.all([page.waitForURL(/\/admin\/posts\/\d+$/), page.getByRole('button', { name: 'Save draft' }).click()]);
		postUrl = page.url();
	});
	await step('the preview iframe shows the email as a subscriber gets it', async () => {
		const frame = page.frameLocator('iframe.preview');
		await frame.locator('strong', { hasText: 'spring tide' }).waitFor({ timeout: 10000 });
		const sandbox = await page.locator('iframe.preview').getAttribute('sandbox');
		expectEq('sandbox attribute', sandbox, '');
		await shot('post-draft');
	});
	await step('send the post and watch the progress bar reach 100%', async () => {
		await Promise.all([page.waitForURL(postUrl), page.getByRole('button', { name: 'Send', exact: true }).click()]);
		await page.waitForFunction(() => {
			const p = document.querySelector('#post-progress');
			return p && p.max > 1 && p.value === p.max;
		}, null, { timeout: 120000 });
		expectEq('percent', await page.locator('[data-field="percent"]').innerText(), '100');
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
