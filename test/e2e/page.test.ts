import test from 'ava';
import { ARTIFACTS, Browser } from '../helpers/browser.js';
import { ComposeStack, buildImages, docker } from '../../harness/compose.js';
import { get } from '../../harness/http.js';
import { waitFor } from '../../harness/wait.js';

// The live membership page on the compose stack as users run it: headless Chromium opens it
// through the published stats port with the password, sees the nodes, sees a `docker stop` in
// the feed and the node leave the table. A webapp on the network gets 401 before any page byte.
const stack = new ComposeStack();

test.before(async () => {
  await buildImages();
  await stack.up({ webapps: 2 });
  await stack.converged(60000);
});
test.after.always(() => stack.down());

const auth = () => ({ authorization: `Basic ${Buffer.from(`leasehold:${stack.statsPassword}`).toString('base64')}` });
const pageUrl = () => `http://127.0.0.1:${stack.statsPort}/leasehold/`;

test.serial('the page in headless Chromium: both webapps listed; a docker stop appears in the feed and the node leaves the table; a screenshot kept', async (t) => {
  const ids = await stack.converged(60000);
  t.is(ids.length, 2);
  const browser = await Browser.start();
  t.teardown(() => browser.stop());
  const tab = await browser.open(pageUrl(), auth());
  // compose.yml routes other services too (static, labelled): the webapps' rows.
  const nodes = async () => (await tab.eval<string[]>(`[...document.querySelectorAll('#nodes tbody tr')].map((tr) => tr.dataset.node)`)).filter((n) => n.startsWith('webapp/')).sort();
  await waitFor(async () => (await tab.eval<string>('document.body.dataset.loaded')) === 'true' && (await tab.eval<string>('document.body.dataset.feed')) === 'open', 'page loaded, feed open', 30000, 100);
  await waitFor(async () => (await nodes()).join() === ids.map((id) => `webapp/${id}`).join(), 'both webapps in the table', 15000, 200);
  await tab.screenshot(`${ARTIFACTS}page-e2e-before.png`);

  const [victim] = await stack.containers('webapp');
  const { hostname } = await stack.webapp(victim!.Id);
  await docker.getContainer(victim!.Id).stop({ t: 10 });
  const feed = () => tab.eval<string[]>(`[...document.querySelectorAll('#feed li')].map((li) => li.textContent)`);
  const line = await waitFor(async () => (await feed()).find((l) => l.includes(` left webapp/${hostname} `)), `${hostname} leaving in the feed`, 30000, 200);
  t.log(line);
  await waitFor(async () => !(await nodes()).includes(`webapp/${hostname}`), `${hostname} out of the table`, 15000, 200);
  t.deepEqual(await nodes(), ids.filter((id) => id !== hostname).map((id) => `webapp/${id}`));
  t.log(`screenshot: ${await tab.screenshot(`${ARTIFACTS}page-e2e.png`)}`);
});

test.serial('the page from the host: 401 without the password, 200 with it; from a webapp container: 401 for the page, its status and its events', async (t) => {
  t.is((await get(pageUrl())).status, 401, 'not even from the host without the password');
  const page = await get(pageUrl(), auth());
  t.is(page.status, 200);
  t.regex(page.text, /<title>leasehold: live membership<\/title>/);
  const probe = `const http = require('node:http'); const get = (p) => new Promise((r) => http.get({ host: 'ha', port: 1936, path: p, timeout: 3000 }, (res) => { let body = ''; res.on('data', (d) => (body += d)); res.on('end', () => r([res.statusCode, /live membership|"backends"|data:/.test(body)])); }).on('error', (e) => r([e.code, ''])));
(async () => console.log(JSON.stringify([await get('/leasehold/'), await get('/leasehold/status'), await get('/leasehold/events'), await get('/leasehold/page.js')])))();`;
  const fromWebapp = JSON.parse((await stack.exec('webapp', ['node', '-e', probe])).stdout) as [number, boolean][];
  t.deepEqual(fromWebapp, [[401, false], [401, false], [401, false], [401, false]], 'no page, node or event for a webapp');
  // The renderer's own endpoint (8405) listens on the LB's loopback only.
  const direct = `require('node:http').get({ host: 'ha', port: 8405, path: '/ui/', timeout: 3000 }, (res) => console.log(res.statusCode)).on('error', (e) => console.log(e.code));`;
  t.is((await stack.exec('webapp', ['node', '-e', direct])).stdout.trim(), 'ECONNREFUSED');
});
