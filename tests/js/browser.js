#!/usr/bin/env node
// Chromium as a judge (Debian /usr/bin/chromium driven by playwright-core): one browser for
// every page and width of a test session.
//
// stdin: {"executablePath": "/usr/bin/chromium", "args": [...flags],
//         "routes": {"https://assets.example/": "/local/dir/"},     // served from disk
//         "pages": [{"name": "sample", "path": "/abs/index.html", "widths": [600, 375],
//                    "shotDir": "/abs/dir", "probes": ["card title", ...], "axe": true}]}
// stdout: {"<name>": {"<width>": {"scrollWidth", "clientWidth", "shot", "probes": {text: box|null},
//                                 "brokenImages": [src of images that did not load],
//                                 "axe": {"violations": [...]} | undefined}}}
//
// Network: file: URLs load; URLs under a "routes" prefix are answered from the local directory;
// every other request is aborted, so nothing leaves the machine and nothing waits on a timeout.
'use strict';
const fs = require('fs');
const path = require('path');
const { runJsonFilter } = require('./json_filter');
const { chromium } = require(path.join(__dirname, '..', '..', 'node', 'node_modules', 'playwright-core'));
const AXE = path.join(__dirname, '..', '..', 'node', 'node_modules', 'axe-core', 'axe.min.js');

async function route(routes, r) {
  const url = r.request().url();
  if (url.startsWith('file:') || url.startsWith('data:')) return r.continue();
  for (const [prefix, dir] of Object.entries(routes || {})) {
    if (url.startsWith(prefix)) {
      const rel = decodeURIComponent(url.slice(prefix.length).split(/[?#]/)[0]);
      // the build copies assets beside index.html, maybe under assets/: try those places
      for (const file of [path.join(dir, rel), path.join(dir, 'assets', rel),
                          path.join(dir, 'assets', path.basename(rel))]) {
        if (file.startsWith(path.resolve(dir)) && fs.existsSync(file) && fs.statSync(file).isFile()) {
          return r.fulfill({ path: file });
        }
      }
    }
  }
  return r.abort('blockedbyclient');
}

// In the page: the box of the card (closest MJML column) around the first text node holding each probe.
function measure(probes) {
  const found = {};
  for (const probe of probes) {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    let box = null;
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = n.nodeValue.replace(/\s+/g, ' ');
      if (!text.includes(probe)) continue;
      const el = n.parentElement;
      const card = el.closest('.mailer-card, [class*="mj-column"]') || el;
      const r = card.getBoundingClientRect();
      box = { x: r.left, y: r.top + window.scrollY, width: r.width, height: r.height,
              className: String(card.className || '') };
      break;
    }
    found[probe] = box;
  }
  const brokenImages = [...document.images]
    .filter((img) => !img.complete || img.naturalWidth === 0)
    .map((img) => img.getAttribute('src'));
  return {
    brokenImages,
    scrollWidth: document.documentElement.scrollWidth,
    bodyScrollWidth: document.body ? document.body.scrollWidth : null,
    clientWidth: document.documentElement.clientWidth,
    found,
  };
}

runJsonFilter(async (job) => {
  const browser = await chromium.launch({ executablePath: job.executablePath, args: job.args || [] });
  const out = {};
  try {
    for (const page of job.pages) {
      out[page.name] = {};
      for (const width of page.widths) {
        const context = await browser.newContext({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
        const tab = await context.newPage();
        await tab.route('**/*', (r) => route(job.routes, r));
        await tab.goto('file://' + page.path, { waitUntil: 'load' });
        await tab.evaluate(() => document.fonts && document.fonts.ready);
        const m = await tab.evaluate(measure, page.probes || []);
        const result = { brokenImages: m.brokenImages, scrollWidth: m.scrollWidth, bodyScrollWidth: m.bodyScrollWidth,
                         clientWidth: m.clientWidth, probes: m.found };
        if (page.shotDir) {
          fs.mkdirSync(page.shotDir, { recursive: true });
          result.shot = path.join(page.shotDir, `${page.name}-${width}.png`);
          await tab.screenshot({ path: result.shot, fullPage: true });
        }
        if (page.axe) {
          await tab.addScriptTag({ path: AXE });
          const res = await tab.evaluate(async () => {
            const r = await window.axe.run(document, { resultTypes: ['violations'] });
            return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.slice(0, 5).map((n) => n.html.slice(0, 200)) }));
          });
          result.axe = { violations: res };
        }
        out[page.name][String(width)] = result;
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
  return out;
});
