#!/usr/bin/env node
// caniemail (npm `caniemail`, data from caniemail.com) as a judge.
//
// stdin:  {"html": "<!doctype html>...", "clients": ["gmail.*", "apple-mail.*", "outlook.outlook-com"]}
// stdout: {"clients": [...checked...], "unsupported": [{"client", "title", "line"}],
//          "partial": [{"client", "title", "line"}], "dataDate": "..."}
//
// How: the package's own checker parses the HTML (every element and attribute, every <style>
// rule: properties, values, units, functions, selectors, pseudo-classes, at-rules such as
// @media, and every style="" attribute) and looks each feature up for each client at the
// client's latest tested version: "n" is unsupported, "a"/"u" etc. partial. The package's
// public client list lacks Outlook.com (data key outlook.outlook-com), so its checker modules
// are imported by file path and run with the client names given here.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.join(here, '..', '..', 'node', 'node_modules', 'caniemail');
const load = (rel) => import(pathToFileURL(path.join(pkg, rel)).href);

const { checkStylesheet } = await load('dist/checks/check-css.js');
const { checkHtml } = await load('dist/checks/check-html.js');
const { parseHtml } = await load('dist/helpers.js');
const { FeatureMap } = await load('dist/features.js');
const data = JSON.parse(fs.readFileSync(path.join(pkg, 'data', 'caniemail.json'), 'utf8'));

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
// expand "family.*" to the platforms the data knows for that family
const platforms = new Map();
for (const feature of data.data) {
  for (const [family, byPlatform] of Object.entries(feature.stats || {})) {
    for (const platform of Object.keys(byPlatform)) {
      if (!platforms.has(family)) platforms.set(family, new Set());
      platforms.get(family).add(platform);
    }
  }
}
const clients = [];
for (const name of input.clients) {
  const [family, platform] = name.split('.');
  if (platform === '*') clients.push(...[...(platforms.get(family) || [])].map((p) => `${family}.${p}`));
  else clients.push(name);
}

// A feature that has no data for one client would make the checker throw; check each client
// separately and, on such a gap, record it rather than give up.
const unsupported = [];
const partial = [];
const gaps = [];
const { document, stylesheets } = parseHtml(input.html);
for (const client of clients) {
  const issues = { errors: new FeatureMap(), warnings: new FeatureMap() };
  try {
    for (const stylesheet of stylesheets) checkStylesheet({ clients: [client], issues, stylesheet });
    checkHtml({ clients: [client], document, issues, source: input.html });
  } catch (err) {
    gaps.push({ client, message: String(err && err.message || err) });
  }
  const row = (issue) => ({ client, title: issue.title,
                            line: issue.position && issue.position.start ? issue.position.start.line : null });
  for (const list of issues.errors.values()) unsupported.push(...list.map(row));
  for (const list of issues.warnings.values()) partial.push(...list.map(row));
}
process.stdout.write(JSON.stringify({ clients, unsupported, partial, gaps, dataDate: data.last_update_date }));
