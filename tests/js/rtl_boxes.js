// Boxes of elements in one page at several widths, for the right-to-left layout test
// (tests/test_blocks_rtl.py).
// stdin: {"executablePath": "...", "args": [...], "path": "/abs/index.html", "widths": [600, 375],
//         "selectors": {"name": "css selector", ...}}
// stdout: {"<width>": {"scrollWidth", "dir", "boxes": {name: {x, y, width, height, direction,
//                                                              textAlign} | null}}}
// Every network request but file: is aborted.
'use strict';
const path = require('path');
const { runJsonFilter } = require('./json_filter');
const { chromium } = require(path.join(__dirname, '..', '..', 'node', 'node_modules', 'playwright-core'));

function measure(selectors) {
  const boxes = {};
  for (const [name, selector] of Object.entries(selectors)) {
    const el = document.querySelector(selector);
    if (!el) { boxes[name] = null; continue; }
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    boxes[name] = { x: r.left, y: r.top + window.scrollY, width: r.width, height: r.height,
                    direction: style.direction, textAlign: style.textAlign };
  }
  return { scrollWidth: document.documentElement.scrollWidth,
           dir: document.documentElement.getAttribute('dir'), boxes };
}

runJsonFilter(async (job) => {
  const browser = await chromium.launch({ executablePath: job.executablePath, args: job.args || [] });
  const out = {};
  try {
    for (const width of job.widths) {
      const context = await browser.newContext({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
      const tab = await context.newPage();
      await tab.route('**/*', (r) => (r.request().url().startsWith('file:') ? r.continue() : r.abort()));
      await tab.goto('file://' + job.path, { waitUntil: 'load' });
      out[String(width)] = await tab.evaluate(measure, job.selectors);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  return out;
});
