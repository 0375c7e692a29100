// The judges' shared plumbing: read one JSON document from stdin, hand it to the judge's
// work, write what that returns as JSON to stdout; an error goes to stderr with exit 2.
'use strict';

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function runJsonFilter(work) {
  (async () => {
    const job = JSON.parse(await readStdin());
    process.stdout.write(JSON.stringify(await work(job)));
  })().catch((err) => {
    process.stderr.write(String(err && err.stack || err) + '\n');
    process.exit(2);
  });
}

module.exports = { readStdin, runJsonFilter };
