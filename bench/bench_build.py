"""Build speed: `mailer build` of the sample beside the MJML reference (npm mjml@5).

`python -m bench build`. Figures are printed, never asserted:

* whole process: median wall time of `mailer build` (the console script) and of a
  process that runs only the build path (`python -c "...write_build(...)"`, which
  shows what the build itself imports), beside the reference CLI
  (`node/node_modules/.bin/mjml index.mjml -o out.html`) on the same index.mjml;
* in process, warm: median time per stage (load, render, compile, inline, text) over
  many builds of the default language, each as ``build_issue`` makes it (inside
  ``images.one_build``, with the theme's block folders; a process keeps only its
  caches: parsed texts, templates, Markdown), beside the reference compiling the same
  MJML in process (a small node script, warm: the first compiles are dropped).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "issues" / "2018-03-iom-turkey.yaml"
NODE_MODULES = ROOT / "node" / "node_modules"
PROCESS_RUNS = 7
STAGE_RUNS = 200
REFERENCE_RUNS = 30

NODE_SCRIPT = """
const mjml2html = require(process.argv[2]);
const src = require("fs").readFileSync(process.argv[3], "utf8");
const runs = Number(process.argv[4]);
(async () => {
  const times = [];
  for (let i = 0; i < runs + 5; i++) {
    const t = process.hrtime.bigint();
    const out = await mjml2html(src, { validationLevel: "soft" });
    if (!out.html) throw new Error("no html");
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  console.log(JSON.stringify(times.slice(5)));
})();
"""


def median_walls(commands: dict[str, list[str]], runs: int, cwd: Path) -> dict[str, float]:
    """Median wall seconds of each command, the runs interleaved so that a busy machine
    slows every command alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            start = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, timeout=120)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def stages(config_path: Path) -> dict[str, float]:
    """Median milliseconds per stage of an in-process build (warm)."""
    from mailer.build.compile import compile_mjml
    from mailer.build.i18n import format_period
    from mailer.build.images import one_build
    from mailer.build.inline import inline_css
    from mailer.build.issue import load_issue
    from mailer.build.render import render_mjml, template_dirs
    from mailer.build.text import render_text
    from mailer.config import load_config

    config = load_config(config_path)
    dirs = template_dirs(config)
    times: dict[str, list[float]] = {k: [] for k in ("load", "render", "compile", "inline", "text")}
    for i in range(STAGE_RUNS + 5):
        # as build_issue does: the theme's folders for its blocks, image paths resolved once
        # per build (one_build), nothing kept from the previous build but what a process keeps
        with one_build():
            t0 = time.perf_counter()
            issue = load_issue(SAMPLE, default_language="en", block_dirs=dirs)
            t1 = time.perf_counter()
            result = render_mjml(issue, config)
            t2 = time.perf_counter()
            html = compile_mjml(result.mjml)
            t3 = time.perf_counter()
            inline_css(html, config.settings.inliner)
            t4 = time.perf_counter()
            assert issue.period is not None
            period = format_period(issue.period.start, issue.period.end, "en")
            render_text(issue, config, period=period)
            t5 = time.perf_counter()
        if i >= 5:
            for key, a, b in (
                ("load", t0, t1),
                ("render", t1, t2),
                ("compile", t2, t3),
                ("inline", t3, t4),
                ("text", t4, t5),
            ):
                times[key].append((b - a) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    mjml_cli = NODE_MODULES / ".bin" / "mjml"
    node = shutil.which("node")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        mailer = Path(sys.executable).parent / "mailer"
        build = [str(mailer), "build", str(SAMPLE), "-o", str(out / "ours"), "--lang", "en"]
        subprocess.run(build, cwd=ROOT, check=True, capture_output=True, timeout=120)
        mjml_file = out / "ours" / "index.mjml"
        code = (
            "from mailer.build import write_build; from mailer.config import load_config; "
            f"write_build({str(SAMPLE)!r}, load_config('mailer.toml'), {str(out / 'lib')!r}, "
            "lang='en')"
        )
        commands = {"cli": build, "library": [sys.executable, "-c", code]}
        have_reference = mjml_cli.exists() and node is not None
        if have_reference:
            commands["reference"] = [str(mjml_cli), str(mjml_file), "-o", str(out / "ref.html")]
        walls = median_walls(commands, PROCESS_RUNS, ROOT)
        cli, library = walls["cli"], walls["library"]
        print(f"whole process, median of {PROCESS_RUNS} (interleaved runs):")
        print(f"  mailer build (console script)      {cli * 1000:8.0f} ms")
        print(f"  build path only (python -c)        {library * 1000:8.0f} ms")
        if have_reference:
            reference = walls["reference"]
            print(f"  MJML 5 reference CLI               {reference * 1000:8.0f} ms")
            print(f"  reference / mailer build           {reference / cli:8.1f}x")
            print(f"  reference / build path only        {reference / library:8.1f}x")
        else:
            print("  (MJML reference CLI not installed: cd node && npm install)")

        per_stage = stages(ROOT / "mailer.toml")
        total = sum(per_stage.values())
        print(f"\nin process, warm, median of {STAGE_RUNS} builds (ms):")
        for key, value in per_stage.items():
            print(f"  {key:<8} {value:7.2f}")
        print(f"  {'total':<8} {total:7.2f}")
        if node and (NODE_MODULES / "mjml").exists():
            script = out / "warm.js"
            script.write_text(NODE_SCRIPT, encoding="utf-8")
            proc = subprocess.run(
                [
                    node,
                    str(script),
                    str(NODE_MODULES / "mjml"),
                    str(mjml_file),
                    str(REFERENCE_RUNS),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
            warm = statistics.median(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"  MJML 5 compile in process, warm (median of {REFERENCE_RUNS}): {warm:.2f} ms")
            print(f"  reference compile / our whole build: {warm / total:.1f}x")
            print(f"  reference compile / our compile:     {warm / per_stage['compile']:.1f}x")


if __name__ == "__main__":
    main()
