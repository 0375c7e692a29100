"""`mailer preview`: how long after a save the edit is visible in the browser (headless Chromium).

`python -m bench preview`. A copy of the sample project in a temporary folder, `mailer preview`
run as its own process on 127.0.0.1, and Debian's Chromium driven by playwright-core (node/).
JS added to the page records ``performance.timeOrigin + performance.now()`` when the iframe
finishes loading a document holding the edit; the bench notes the same clock just before it
writes the issue file. Seven edits, median printed (never asserted). The same JS works on the
old polling page, so before/after figures come from the same command.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node" / "node_modules"
ISSUE = Path("issues/2018-03-iom-turkey.yaml")
EDITS = 7

SCRIPT = r"""
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(process.env.NODE_MODULES, 'playwright-core'));
(async () => {
  const job = JSON.parse(process.env.JOB);
  const browser = await chromium.launch({ executablePath: job.exe, args: job.args });
  const out = [];
  try {
    const tab = await browser.newPage();
    await tab.goto(job.url, { waitUntil: 'load' });
    await tab.waitForFunction(() => {
      const d = document.getElementById('email').contentDocument;
      return d && d.readyState === 'complete' && d.body && d.body.textContent.length > 0;
    });
    await tab.evaluate(() => {
      window.__landed = {};
      document.getElementById('email').addEventListener('load', (e) => {
        const text = e.target.contentDocument.body.textContent;
        const m = text.match(/EDIT-(\d+)-MARK/);
        if (m && !(m[1] in window.__landed))
          window.__landed[m[1]] = performance.timeOrigin + performance.now();
      });
    });
    await new Promise((r) => setTimeout(r, 1000));  // the watcher is up
    let text = fs.readFileSync(job.issue, 'utf8');
    for (let i = 0; i < job.edits; i++) {
      text = text.replace(/Why Gaziantep( EDIT-\d+-MARK)? Still Matters/,
                          `Why Gaziantep EDIT-${i}-MARK Still Matters`);
      const saved = performance.timeOrigin + performance.now();
      fs.writeFileSync(job.issue, text);
      await tab.waitForFunction((k) => k in window.__landed, String(i),
                                { timeout: 15000, polling: 10 });
      const landed = await tab.evaluate((k) => window.__landed[k], String(i));
      out.push(landed - saved);
      await new Promise((r) => setTimeout(r, 700));  // edits apart, as a person saves
    }
  } finally { await browser.close(); }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stderr.write(String(e.stack || e)); process.exit(2); });
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mailer preview exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"mailer preview not listening on {port} after {timeout} s")


def measure() -> list[float] | str:
    """Milliseconds from save to visible, one per edit; or why it could not run."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    node = shutil.which("node")
    if not exe or not node or not (NODE_MODULES / "playwright-core").exists():
        return "skipped: needs Debian chromium, node and node/node_modules/playwright-core"
    sys.path.insert(0, str(ROOT / "tests"))
    from support import CHROMIUM_FLAGS  # the flags the tests give Chromium

    with tempfile.TemporaryDirectory(prefix="mailer-bench-preview-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        shutil.copy(ROOT / "mailer.toml", project / "mailer.toml")
        for name in ("templates", "issues"):
            if (ROOT / name).exists():
                shutil.copytree(ROOT / name, project / name)
        port = _free_port()
        mailer = Path(sys.executable).with_name("mailer")
        proc = subprocess.Popen(
            [str(mailer), "preview", str(ISSUE), "--port", str(port)],
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_port(port, proc)
            job = {
                "exe": exe,
                "args": CHROMIUM_FLAGS,
                "url": f"http://127.0.0.1:{port}/",
                "issue": str(project / ISSUE),
                "edits": EDITS,
            }
            done = subprocess.run(
                [node, "-e", SCRIPT],
                env={**os.environ, "JOB": json.dumps(job), "NODE_MODULES": str(NODE_MODULES)},
                capture_output=True,
                text=True,
                timeout=180,
            )
            if done.returncode:
                return f"failed: {done.stderr.strip()[-400:]}"
            return [float(x) for x in json.loads(done.stdout)]
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> None:
    result = measure()
    if isinstance(result, str):
        print(f"preview save-to-visible: {result}")
        return
    ordered = sorted(result)
    print(
        f"preview save-to-visible (headless Chromium, {len(result)} edits): "
        f"median {ordered[len(ordered) // 2]:.0f} ms "
        f"(min {ordered[0]:.0f}, max {ordered[-1]:.0f}; each: "
        + ", ".join(f"{x:.0f}" for x in result)
        + ")"
    )
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
