#!/usr/bin/env node
// The MJML reference (npm mjml@5) as a judge: compile MJML documents given as JSON on stdin.
//
// stdin:  {"jobs": [{"name": "...", "mjml": "<mjml>...", "validationLevel": "strict"|"soft"}]}
// stdout: {"<name>": {"html": "..." | null, "errors": [{"line", "tagName", "message"}]}}
//
// With "strict", MJML rejects the document on any validation error (unknown attribute, bad
// value, misplaced tag); with "soft" it returns the HTML and lists the errors.
'use strict';
const path = require('path');
const { runJsonFilter } = require('./json_filter');
const mjml2html = require(path.join(__dirname, '..', '..', 'node', 'node_modules', 'mjml'));

function plainErrors(errors) {
  return (errors || []).map((e) => ({ line: e.line, tagName: e.tagName, message: e.message }));
}

async function compileOne(job) {
  try {
    const result = await mjml2html(job.mjml, {
      validationLevel: job.validationLevel || 'strict',
      filePath: job.filePath || process.cwd(),
      minify: false,
      beautify: false,
    });
    return { html: result.html, errors: plainErrors(result.errors) };
  } catch (err) {
    if (err && Array.isArray(err.errors)) return { html: null, errors: plainErrors(err.errors) };
    return { html: null, errors: [{ line: null, tagName: null, message: String(err && err.stack || err) }] };
  }
}

runJsonFilter(async ({ jobs }) => {
  const out = {};
  for (const job of jobs) out[job.name] = await compileOne(job);
  return out;
});
