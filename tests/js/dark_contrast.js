#!/usr/bin/env node
// Dark mode in Chromium (playwright-core, prefers-color-scheme: dark emulated): for every element
// with its own visible text, its computed colour and the first opaque background behind it
// (walking up the ancestors; the dark canvas when none), and the background of each <img> with a
// class="m-logo" ancestor (the logo's plate).
//
// stdin:  {"executablePath", "args", "pages": [{"name", "path"}], "scheme": "dark" | "light"}
// stdout: {"<name>": {"texts": [{"text", "color", "background"}], "logos": [{"plate"}],
//                     "scheme": "dark"|"light"}}
// Network: only file: URLs load; everything else is aborted.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', '..', 'node', 'node_modules', 'playwright-core'));

function inPage() {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(',').map((x) => parseFloat(x));
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const canvas = window.matchMedia('(prefers-color-scheme: dark)').matches
    ? { r: 18, g: 18, b: 18, a: 1 } : { r: 255, g: 255, b: 255, a: 1 };
  const behind = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg && bg.a > 0.5) return bg;
    }
    return canvas;
  };
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.nodeValue.replace(/\s+/g, ' ').trim();
    const el = n.parentElement;
    if (!text || !el) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    texts.push({ text: text.slice(0, 60), color: parse(getComputedStyle(el).color), background: behind(el) });
  }
  const logos = [...document.querySelectorAll('.m-logo img')].map((img) => ({ plate: behind(img) }));
  return { texts, logos, scheme: window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light' };
}

(async () => {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const browser = await chromium.launch({ executablePath: input.executablePath, args: input.args, headless: true });
  const out = {};
  try {
    const context = await browser.newContext({ viewport: { width: 600, height: 900 }, colorScheme: input.scheme || 'dark' });
    await context.route('**/*', (r) => (r.request().url().startsWith('file:') ? r.continue() : r.abort('blockedbyclient')));
    for (const page of input.pages) {
      const tab = await context.newPage();
      await tab.goto('file://' + page.path, { waitUntil: 'load', timeout: 60000 });
      out[page.name] = await tab.evaluate(inPage);
      await tab.close();
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => { console.error(err && err.stack || String(err)); process.exit(1); });
