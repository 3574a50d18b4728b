// The reader's side of the browser test (tests/e2e/browser.sh starts the
// servers and runs this): headless Chromium (Debian's, through playwright-core)
// walks the public web of a running `bulletin serve` as a person would:
// signup form, the confirmation mail's link, the confirm button, the
// preference centre, the archive, a post page, the feeds, a post's
// unsubscribe link and its button, error pages. Mail is read from the
// directory of tests/smtp/capture.py (through mail.py); posts are written
// and sent with the bulletin command, as the publisher would.
//
// Every page is checked for the basics a screen reader and a phone need
// (lang, a title, a label on every form control, a name on every button,
// no sideways scrolling at 390 px, every resource loading) and
// photographed at 1280x800 and 390x844 into BL_E2E_SHOTS.
//
// Output: TAP results without numbers ("ok - ...", "not ok - ...", "# ..."
// diagnostics); browser.sh numbers them. A failed step of the scenario stops
// it (later steps depend on it); a failed page check does not. Exit status 1
// when anything failed.
//
// Environment: BL_E2E_BASE (http://127.0.0.1:PORT, also public_url),
// BL_E2E_MAIL (capture.py's directory), BL_E2E_SHOTS (screenshots, created),
// BL_E2E_WORK (scratch files), BULLETIN, BL_E2E_CONFIG (its config file),
// BL_CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function need(name) {
	const v = process.env[name];
	if (!v) {
		console.log(`not ok - environment: ${name} is not set`);
		process.exit(1);
	}
	return v;
}
const BASE = need('BL_E2E_BASE');
const MAIL = need('BL_E2E_MAIL');
const SHOTS = need('BL_E2E_SHOTS');
const WORK = need('BL_E2E_WORK');
const BULLETIN = need('BULLETIN');
const CONFIG = need('BL_E2E_CONFIG');
const CHROMIUM = process.env.BL_CHROMIUM || '/usr/bin/chromium';
const HERE = path.dirname(fileURLToPath(import.meta.url));

const READER = 'reader@example.org';
const WITNESS = 'witness@example.org'; // confirmed by the CLI: tells when a post is delivered
const NEWS = 'Harbour News'; // the list the reader takes (browser.sh creates it)
const LOCAL = 'Local Alerts'; // the one they leave unticked
const VIEWPORTS = [
	['desktop', { width: 1280, height: 800 }],
	['phone', { width: 390, height: 844 }],
];

// ---- TAP ----

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
// step: one stage of the scenario; its failure ends the scenario.
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
// check: a result that does not stop the scenario.
async function check(desc, fn) {
	try {
		await fn();
		ok(desc);
	} catch (e) {
		notOk(desc, e && e.message ? e.message : e);
	}
}
function expect(cond, msg) {
	if (!cond) throw new Error(msg);
}
function expectEq(got, want, what) {
	if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the publisher's tools and the mailbox ----

function bulletin(...args) {
	try {
		return execFileSync(BULLETIN, ['--config', CONFIG, ...args], {
			encoding: 'utf8',
			stdio: ['ignore', 'pipe', 'pipe'],
		});
	} catch (e) {
		throw new Error(`bulletin ${args.join(' ')}: exit ${e.status}\n${e.stdout}${e.stderr}`);
	}
}
function bulletinJson(...args) {
	return JSON.parse(bulletin(...args, '--json'));
}
function mails(rcpt) {
	return JSON.parse(
		execFileSync('/usr/bin/python3', [path.join(HERE, 'mail.py'), MAIL, rcpt], { encoding: 'utf8' }),
	);
}
async function waitMails(rcpt, n, secs = 30) {
	const end = Date.now() + secs * 1000;
	for (;;) {
		const m = mails(rcpt);
		if (m.length >= n) return m;
		if (Date.now() > end)
			throw new Error(`${m.length} messages for ${rcpt} after ${secs} s, want ${n}: ` +
				JSON.stringify(m.map((x) => x.subject)));
		await sleep(200);
	}
}
// The post's status once it is sent (or throws after @secs).
async function waitSent(id, secs = 30) {
	const end = Date.now() + secs * 1000;
	let st;
	for (;;) {
		st = bulletinJson('post', 'status', String(id));
		if (st.status === 'sent') return st;
		if (Date.now() > end) throw new Error(`post ${id} not sent after ${secs} s: ${JSON.stringify(st)}`);
		await sleep(250);
	}
}
function createPost(subject, body) {
	const file = path.join(WORK, `post-${Date.now()}.md`);
	fs.writeFileSync(file, body);
	const id = parseInt(bulletin('post', 'create', '--list', 'news', '--subject', subject, '--body-file', file), 10);
	expect(id > 0, `post create printed no id`);
	bulletin('post', 'send', String(id));
	return id;
}
// The subscription of @email to list @slug as `subscriber show --json` has it.
function subscription(email, slug) {
	const s = bulletinJson('subscriber', 'show', email);
	const subs = s.subscriptions || [];
	return { subscriber: s, sub: subs.find((x) => x.list === slug) };
}
function linkIn(text, route) {
	const esc = BASE.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
	const found = text.match(new RegExp(`${esc}/${route}/[A-Za-z0-9_~.-]+`, 'g')) || [];
	const uniq = [...new Set(found)];
	expect(uniq.length === 1, `want one ${BASE}/${route}/TOKEN link in the message, found ${JSON.stringify(uniq)}:\n${text}`);
	return uniq[0];
}

// ---- page checks ----

let shotN = 0;
const pageProblems = []; // resources that failed on the page being looked at

function normal(s) {
	return (s || '').replace(/\s+/g, ' ').trim();
}

// Each visible form control is found by its label through page.getByLabel,
// and each button has a name (page.getByRole).
async function checkLabels(page) {
	const controls = page.locator('input:not([type=hidden]), select, textarea');
	const n = await controls.count();
	const bad = [];
	for (let i = 0; i < n; i++) {
		const c = controls.nth(i);
		const info = await c.evaluate((el) => {
			const by = el.getAttribute('aria-labelledby');
			return {
				name: el.name,
				type: el.type,
				hidden: !!el.closest('[aria-hidden="true"]'),
				label:
					[...(el.labels || [])].map((l) => l.innerText).join(' ') ||
					el.getAttribute('aria-label') ||
					(by ? by.split(/\s+/).map((id) => document.getElementById(id)?.innerText || '').join(' ') : ''),
			};
		});
		if (info.hidden) continue; // the honeypot: hidden from people and from assistive technology
		const label = normal(info.label);
		if (!label) {
			bad.push(`${info.type} "${info.name}" has no label`);
			continue;
		}
		const h = await c.elementHandle();
		const found = await page.getByLabel(label).evaluateAll((els, t) => els.includes(t), h);
		await h.dispose();
		if (!found) bad.push(`${info.type} "${info.name}" labelled "${label}" is not found by getByLabel`);
	}
	const buttons = page.locator('button, input[type=submit], input[type=button]');
	const nb = await buttons.count();
	for (let i = 0; i < nb; i++) {
		const b = buttons.nth(i);
		const name = normal(await b.evaluate((el) => el.innerText || el.value || el.getAttribute('aria-label') || ''));
		if (!name) {
			bad.push(`button ${i} has no name`);
			continue;
		}
		const h = await b.elementHandle();
		const found = await page.getByRole('button', { name }).evaluateAll((els, t) => els.includes(t), h);
		await h.dispose();
		if (!found) bad.push(`button "${name}" is not found by getByRole('button', {name})`);
	}
	expect(bad.length === 0, bad.join('\n'));
	return n;
}

// look: the basics of the page now shown, and its screenshots.
async function look(page, name, title) {
	await check(`${name}: <html lang> and <title> "${title}"`, async () => {
		const lang = await page.locator('html').getAttribute('lang');
		expect(lang && /^[a-z]{2,3}(-[A-Za-z0-9]+)*$/.test(lang), `html lang=${JSON.stringify(lang)}`);
		const t = await page.title();
		expect(t.includes(title), `title ${JSON.stringify(t)} does not contain ${JSON.stringify(title)}`);
	});
	await check(`${name}: every form control has a label, every button a name`, () => checkLabels(page));
	const problems = pageProblems.splice(0);
	await check(`${name}: every resource loads (stylesheet)`, async () => {
		expect(problems.length === 0, problems.join('\n'));
		const css = await page.evaluate(() => [...document.styleSheets].length);
		expect(css > 0, 'no stylesheet on the page');
	});
	shotN++;
	const base = `${String(shotN).padStart(2, '0')}-${name}`;
	let overflow = 0;
	await check(`${name}: screenshots ${base}-{desktop,phone}.png`, async () => {
		for (const [vp, size] of VIEWPORTS) {
			await page.setViewportSize(size);
			await page.screenshot({ path: path.join(SHOTS, `${base}-${vp}.png`), fullPage: true });
			if (vp === 'phone')
				overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		}
		await page.setViewportSize(VIEWPORTS[0][1]);
	});
	await check(`${name}: fits a 390 px wide phone screen (no sideways scrolling)`, async () => {
		expect(overflow <= 0, `the page is ${overflow} px wider than the screen`);
	});
}

// goto: open @url, want HTTP @status; returns the response.
async function goto(page, url, status = 200) {
	const resp = await page.goto(url, { waitUntil: 'load' });
	expect(resp, `no response for ${url}`);
	expectEq(resp.status(), status, `status of GET ${url}`);
	return resp;
}
// press: click @button and wait for the page it posts to; want HTTP @status.
async function press(page, button, status = 200) {
	const [resp] = await Promise.all([
		page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().method() === 'POST'),
		button.click(),
	]);
	await page.waitForLoadState('load');
	expectEq(resp.status(), status, `status of POST ${resp.url()}`);
	return resp;
}
// The one submit button of the form on the page that holds @inner (a selector), or of the page.
function submitButton(page, inner) {
	const scope = inner ? page.locator('form', { has: page.locator(inner) }) : page.locator('form');
	return scope.locator('button, input[type=submit]').first();
}
// The control named @name (selector) as a person finds it: by its label.
async function labelled(page, selector) {
	const el = page.locator(selector);
	expectEq(await el.count(), 1, `controls matching ${selector}`);
	const label = normal(await el.evaluate((e) => [...(e.labels || [])].map((l) => l.innerText).join(' ') || e.getAttribute('aria-label') || ''));
	expect(label, `${selector} has no label`);
	const byLabel = page.getByLabel(label, { exact: true });
	const h = await el.elementHandle();
	const same = await byLabel.evaluateAll((els, t) => els.length === 1 && els[0] === t, h);
	await h.dispose();
	expect(same, `getByLabel(${JSON.stringify(label)}) does not find exactly ${selector}`);
	return byLabel;
}
async function text(page) {
	return normal(await page.locator('body').innerText());
}

// ---- the scenario ----

async function scenario(page) {
	// 1. Signup.
	let loaded;
	await step('GET / shows the signup form', async () => {
		await goto(page, `${BASE}/`);
		loaded = Date.now();
		const t = await text(page);
		expect(t.includes(NEWS) && t.includes(LOCAL), `the public lists are not on the page: ${t}`);
	});
	await look(page, 'signup', 'Subscribe');

	await step(`fill in ${READER}, a name, tick "${NEWS}", wait past form_min_fill, send: "check your inbox"`, async () => {
		await (await labelled(page, 'input[name="email"]')).fill(READER);
		await (await labelled(page, 'input[name="name"]')).fill('Ada Reader');
		const news = page.getByRole('checkbox', { name: NEWS });
		const local = page.getByRole('checkbox', { name: LOCAL });
		await news.check();
		if (await local.isChecked()) await local.uncheck();
		expect(await news.isChecked() && !(await local.isChecked()), 'the list checkboxes did not take');
		const wait = 1300 - (Date.now() - loaded); // form_min_fill is 1s in browser.sh's config
		if (wait > 0) await sleep(wait);
		await press(page, submitButton(page, 'input[name="email"]'));
		expect((await page.title()).includes('Check your inbox'), `title: ${await page.title()}`);
		expect((await text(page)).includes(READER), 'the page does not repeat the address');
	});
	await look(page, 'check-inbox', 'Check your inbox');

	await step('the database has the reader unconfirmed on news only', async () => {
		const { subscriber, sub } = subscription(READER, 'news');
		expect(sub, `no news subscription: ${JSON.stringify(subscriber)}`);
		expectEq(sub.status, 'unconfirmed', 'news subscription status');
		const other = subscription(READER, 'local').sub;
		expect(!other, `subscribed to the unticked list too: ${JSON.stringify(other)}`);
	});

	// 2. The confirmation mail and its link.
	const confirmUrl = await step('one confirmation mail arrives, with one confirm link', async () => {
		const m = await waitMails(READER, 1);
		expectEq(m.length, 1, 'messages for the reader');
		expect(m[0].subject, 'the confirmation mail has no subject');
		return linkIn(m[0].text, 'confirm');
	});
	await step('the confirm link shows the confirm page naming the list', async () => {
		await goto(page, confirmUrl);
		const t = await text(page);
		expect(t.includes(NEWS), `the page does not name ${NEWS}: ${t}`);
	});
	await look(page, 'confirm', 'Confirm your subscription');
	await step('the confirm button confirms: "subscription confirmed"', async () => {
		await press(page, submitButton(page));
		expect((await page.title()).includes('Subscription confirmed'), `title: ${await page.title()}`);
	});
	await look(page, 'confirmed', 'Subscription confirmed');
	await step('the database has the subscription confirmed', async () => {
		expectEq(subscription(READER, 'news').sub?.status, 'confirmed', 'news subscription status');
	});

	// 3. The preference centre, from the confirmed page's link.
	const prefsUrl = await step('the confirmed page links to the preference centre', async () => {
		const link = page.locator('a[href*="/preferences/"]').first();
		const href = await link.getAttribute('href');
		expect(href, 'no link to /preferences/ on the confirmed page');
		await Promise.all([page.waitForURL(/\/preferences\//, { waitUntil: 'load' }), link.click()]);
		expect(page.url().includes('/preferences/'), `went to ${page.url()}`);
		expect((await text(page)).includes(READER), 'the page does not show the address');
		return page.url();
	});
	await look(page, 'preferences', 'Your subscriptions');
	await step('the preference centre saves a new name', async () => {
		await (await labelled(page, 'input[name="name"]')).fill('Ada R. Reader');
		expect(await page.getByRole('checkbox', { name: NEWS }).isChecked(), `${NEWS} is not ticked`);
		await press(page, submitButton(page, 'input[name="name"]'));
		await goto(page, prefsUrl);
		expectEq(await page.locator('input[name="name"]').inputValue(), 'Ada R. Reader', 'name field after reload');
		expectEq(subscription(READER, 'news').subscriber.name, 'Ada R. Reader', 'name in the database');
		expectEq(subscription(READER, 'news').sub?.status, 'confirmed', 'news status after saving');
	});
	await step('the erase page opens from the preference centre (not pressed)', async () => {
		await goto(page, `${prefsUrl.replace(/\/$/, '')}/erase`);
		expect((await text(page)).includes(READER), 'the erase page does not show the address');
	});
	await look(page, 'erase', 'Erase my data');

	// 4. A post reaches the reader; the archive and feeds show it.
	const subject1 = 'The harbour closes for the storm';
	const post1 = await step('the publisher sends a post; serve delivers it to the reader', async () => {
		const id = createPost(subject1, '# Storm warning\n\nThe harbour closes **tonight** at 8 p.m.\n\n- Boats stay moored\n- The ferry does not run\n');
		const m = await waitMails(READER, 2);
		expectEq(m.length, 2, 'messages for the reader');
		expectEq(m[1].subject, subject1, 'subject');
		await waitMails(WITNESS, 1);
		await waitSent(id);
		return { id, mail: m[1] };
	});
	await step('GET /archive lists the post', async () => {
		await goto(page, `${BASE}/archive`);
		expect(await page.getByRole('link', { name: subject1 }).count() >= 1, `no link "${subject1}"`);
		expect(await page.locator('a[href*="feed.atom"], link[href*="feed.atom"]').count() >= 1, 'no link to the Atom feed');
	});
	await look(page, 'archive', 'Archive');
	await step('the archive link opens the post page', async () => {
		await Promise.all([
			page.waitForURL(/\/archive\/[0-9]+-/, { waitUntil: 'load' }),
			page.getByRole('link', { name: subject1 }).first().click(),
		]);
		expect(new URL(page.url()).pathname.startsWith(`/archive/${post1.id}-`), `went to ${page.url()}`);
		const t = await text(page);
		expect(t.includes('The harbour closes tonight at 8 p.m.'), `the post's body is not on the page: ${t}`);
		expect(await page.locator('strong').filter({ hasText: 'tonight' }).count() === 1, 'Markdown not rendered');
	});
	await look(page, 'post', subject1);
	await step('GET /lists/news/archive lists the post', async () => {
		await goto(page, `${BASE}/lists/news/archive`);
		expect(await page.getByRole('link', { name: subject1 }).count() >= 1, `no link "${subject1}"`);
		expect((await text(page)).includes(NEWS), `the page does not name ${NEWS}`);
	});
	await look(page, 'list-archive', NEWS);
	for (const feed of ['/feed.atom', '/feed.json', '/lists/news/feed.atom', '/lists/news/feed.json']) {
		await check(`GET ${feed}: the post in a valid feed`, async () => {
			const r = await page.request.get(`${BASE}${feed}`);
			expectEq(r.status(), 200, 'status');
			const type = r.headers()['content-type'] || '';
			const body = await r.text();
			if (feed.endsWith('.json')) {
				expect(/^application\/(feed\+)?json/.test(type), `content-type ${type}`);
				const doc = JSON.parse(body);
				expect(/^https:\/\/jsonfeed\.org\/version\/1/.test(doc.version), `version ${doc.version}`);
				const item = (doc.items || []).find((i) => i.title === subject1);
				expect(item, `no item titled "${subject1}": ${body.slice(0, 400)}`);
				expect(item.url && item.url.startsWith(`${BASE}/archive/${post1.id}-`), `item url ${item.url}`);
			} else {
				expect(/^application\/atom\+xml/.test(type), `content-type ${type}`);
				expect(/<feed\s[^>]*xmlns="http:\/\/www\.w3\.org\/2005\/Atom"/.test(body), `not an Atom feed: ${body.slice(0, 200)}`);
				expect(body.includes(`<title>${subject1}</title>`) || body.includes(`<title type="text">${subject1}</title>`),
					`no entry titled "${subject1}"`);
				expect(body.includes(`${BASE}/archive/${post1.id}-`), 'no link to the post page');
			}
		});
	}

	// 5. Unsubscribe through the post's link.
	const unsubUrl = await step('the post carries one unsubscribe link in its body and in List-Unsubscribe', async () => {
		const url = linkIn(post1.mail.text, 'unsubscribe');
		expect(post1.mail.list_unsubscribe.includes(`<${url}>`), `List-Unsubscribe: ${post1.mail.list_unsubscribe}`);
		return url;
	});
	await step('the unsubscribe link shows the unsubscribe page', async () => {
		await goto(page, unsubUrl);
		const t = await text(page);
		expect(t.includes(NEWS), `the page does not name ${NEWS}`);
	});
	await look(page, 'unsubscribe', 'Unsubscribe');
	await step('the unsubscribe button unsubscribes: "unsubscribed"', async () => {
		await press(page, submitButton(page));
		expect((await page.title()).includes('Unsubscribed'), `title: ${await page.title()}`);
	});
	await look(page, 'unsubscribed', 'Unsubscribed');
	await step('the database has the subscription unsubscribed', async () => {
		expectEq(subscription(READER, 'news').sub?.status, 'unsubscribed', 'news subscription status');
	});
	await step('the preference centre shows the list unticked', async () => {
		await goto(page, prefsUrl);
		expect(!(await page.getByRole('checkbox', { name: NEWS }).isChecked()), `${NEWS} is still ticked`);
	});

	// 6. The next post does not reach them.
	await step('a second post reaches the witness and not the reader', async () => {
		const subject2 = 'The harbour opens again';
		const id = createPost(subject2, 'The storm has passed; the ferry runs from 7 a.m.\n');
		const w = await waitMails(WITNESS, 2);
		expectEq(w[1].subject, subject2, "the witness's second message");
		const st = await waitSent(id);
		const m = mails(READER);
		expect(!m.some((x) => x.subject === subject2), `the reader got "${subject2}"`);
		expectEq(m.length, 2, 'messages for the reader (confirmation + first post)');
		expectEq(st.accepted, 1, 'deliveries accepted for the second post');
		expectEq(subscription(READER, 'news').sub?.status, 'unsubscribed', 'news subscription status');
	});

	// 7. Error pages.
	await step('a bad confirmation token gets the error page', async () => {
		const r = await page.goto(`${BASE}/confirm/not-a-valid-token`);
		expect(r.status() >= 400 && r.status() < 500, `status ${r.status()}`);
		expect((await text(page)).includes('not valid'), `page: ${await text(page)}`);
	});
	await look(page, 'error-bad-token', 'not valid');
	await step('an unknown address gets a 404 page', async () => {
		await goto(page, `${BASE}/no-such-page`, 404);
	});
	await look(page, 'error-404', 'not found');
}

async function main() {
	fs.mkdirSync(SHOTS, { recursive: true });
	const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
	try {
		const context = await browser.newContext({ viewport: VIEWPORTS[0][1], locale: 'en-GB' });
		const page = await context.newPage();
		page.setDefaultTimeout(15000);
		page.on('response', (r) => {
			if (r.request().isNavigationRequest() || r.url().endsWith('/favicon.ico')) return;
			if (r.status() >= 400) pageProblems.push(`${r.status()} ${r.url()}`);
		});
		page.on('requestfailed', (r) => pageProblems.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
		page.on('pageerror', (e) => pageProblems.push(`script error: ${e.message}`));
		ok(`Chromium ${browser.version()} started (headless)`);
		try {
			await scenario(page);
		} catch (e) {
			if (!(e instanceof Stop)) notOk('the scenario', e && e.stack ? e.stack : e);
			else console.log(`# stopped after the failed step: ${e.message}`);
		}
		await context.close();
	} finally {
		await browser.close();
	}
}

main().then(
	() => process.exit(failures ? 1 : 0),
	(e) => {
		notOk('the browser', e && e.stack ? e.stack : e);
		process.exit(1);
	},
);
