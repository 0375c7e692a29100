"""Build speed: `mailer build` of the sample beside the MJML reference (npm mjml@5).

`python -m bench build`. Figures are printed, never asserted:

* whole process, in interleaved rounds (one of each command per round, after one round
  not counted): median wall and CPU time (user + system, from the OS) of ``mailer build``
  of the sample in its three languages (en, tr, ar: the goal of issue 15), of the same
  with ``--lang en``, of a process that runs only the build path (``python -c
  "...write_build(...)"``, which shows what the build itself imports), and of the
  reference CLI (``node/node_modules/.bin/mjml index.mjml -o out.html``) compiling one
  language's MJML; then the ratio reference / mailer pair by pair (each round's own
  ratio; their median), which holds when the machine's speed drifts. The output folders
  are built into again every round, as an editor rebuilds (images already made are kept);
* mailer's own modules are timed from bytecode, as an installed mailer runs: with
  ``PYTHONDONTWRITEBYTECODE`` set and an editable install, nothing writes it, so the bench
  compiles what is missing or stale first (as ``make install`` does) and says so;
* in process, warm: median time per stage (load, render, inline, compile, text) over
  many builds of the default language, each as ``build_issue`` makes it (inside
  ``images.one_build``, with the theme's block folders; a process keeps only its
  caches: parsed texts, templates, Markdown), beside the reference compiling the same
  MJML in process (a small node script, warm: the first compiles are dropped). "inline"
  is the theme's rules put into the content before compiling (``content_css``), "compile"
  MJML to HTML (and, for a theme whose rules need it, the whole-document inlining).
"""

from __future__ import annotations

import compileall
import importlib.util
import json
import resource
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
PROCESS_RUNS = 9
STAGE_RUNS = 200
REFERENCE_RUNS = 30
#: what issue 15 asks of the three-language build: this many times the reference's speed
GOAL = 3.0

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


def stale_bytecode(package: Path) -> list[Path]:
    """The modules of *package* whose bytecode is missing or no longer matches the source
    (Python compiles those from source in every process that imports them)."""
    stale = []
    for source in sorted(package.rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        try:
            header = cached.read_bytes()[:16]
        except OSError:
            stale.append(source)
            continue
        flags = int.from_bytes(header[4:8], "little")
        if flags & 1:  # checked by the source's hash (compiled with SOURCE_DATE_EPOCH set)
            stamp = importlib.util.source_hash(source.read_bytes())
        else:  # checked by the source's mtime and size
            st = source.stat()
            stamp = (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (
                st.st_size & 0xFFFFFFFF
            ).to_bytes(4, "little")
        if header[:4] != importlib.util.MAGIC_NUMBER or header[8:16] != stamp:
            stale.append(source)
    return stale


def ensure_bytecode() -> None:
    """Compile mailer's stale modules (as ``make install`` does) and say so."""
    spec = importlib.util.find_spec("mailer")
    assert spec is not None and spec.origin is not None
    package = Path(spec.origin).parent
    stale = stale_bytecode(package)
    if not stale:
        return
    compileall.compile_dir(str(package), quiet=1)
    left = stale_bytecode(package)
    done = len(stale) - len(left)
    print(f"compiled {done} of mailer's modules to bytecode first (as `make install` does)")
    if left:
        print(f"  {len(left)} could not be written: those are compiled from source in every run")


class Runs:
    """Whole-process figures of one command: wall and CPU seconds per round."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def run(self, cmd: list[str], cwd: Path) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, timeout=120)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wall.append(wall)
        self.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def interleaved(commands: dict[str, list[str]], runs: int, cwd: Path) -> dict[str, Runs]:
    """Each command once per round, *runs* rounds after one not counted, so that a busy
    machine slows every command alike."""
    figures = {name: Runs() for name in commands}
    for cmd in commands.values():
        Runs().run(cmd, cwd)  # the round not counted: caches, the first copy of the images
    for _ in range(runs):
        for name, cmd in commands.items():
            figures[name].run(cmd, cwd)
    return figures


def paired(reference: Runs, ours: Runs) -> tuple[float, float]:
    """Median over the rounds of reference / ours: (wall, CPU)."""
    wall = statistics.median(r / o for r, o in zip(reference.wall, ours.wall, strict=True))
    cpu = statistics.median(r / o for r, o in zip(reference.cpu, ours.cpu, strict=True))
    return wall, cpu


def stages(config_path: Path) -> dict[str, float]:
    """Median milliseconds per stage of an in-process build (warm)."""
    from mailer.build.compile import compile_mjml
    from mailer.build.content_css import inline_content
    from mailer.build.i18n import format_period
    from mailer.build.images import one_build
    from mailer.build.inline import declare_color_schemes, inline_css
    from mailer.build.issue import load_issue
    from mailer.build.render import render_mjml, template_dirs
    from mailer.build.text import render_text
    from mailer.config import load_config

    config = load_config(config_path)
    dirs = template_dirs(config)
    times: dict[str, list[float]] = {k: [] for k in ("load", "render", "inline", "compile", "text")}
    for i in range(STAGE_RUNS + 5):
        # as build_issue does: the theme's folders for its blocks, image paths resolved once
        # per build (one_build), nothing kept from the previous build but what a process keeps
        with one_build():
            t0 = time.perf_counter()
            issue = load_issue(SAMPLE, default_language="en", block_dirs=dirs)
            t1 = time.perf_counter()
            result = render_mjml(issue, config)
            t2 = time.perf_counter()
            # the theme's rules into the content first when they are content rules (the
            # sample's are), else into the whole compiled document (compile_and_inline)
            staged = inline_content(result.mjml)
            t3 = time.perf_counter()
            if staged is None:
                inline_css(compile_mjml(result.mjml), config.settings.inliner)
            else:
                declare_color_schemes(compile_mjml(staged))
            t4 = time.perf_counter()
            assert issue.period is not None
            period = format_period(issue.period.start, issue.period.end, "en")
            render_text(issue, config, period=period)
            t5 = time.perf_counter()
        if i >= 5:
            for key, a, b in (
                ("load", t0, t1),
                ("render", t1, t2),
                ("inline", t2, t3),
                ("compile", t3, t4),
                ("text", t4, t5),
            ):
                times[key].append((b - a) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    mjml_cli = NODE_MODULES / ".bin" / "mjml"
    node = shutil.which("node")
    ensure_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        mailer = Path(sys.executable).parent / "mailer"
        every = [str(mailer), "build", str(SAMPLE), "-o", str(out / "all")]
        build = [str(mailer), "build", str(SAMPLE), "-o", str(out / "ours"), "--lang", "en"]
        subprocess.run(build, cwd=ROOT, check=True, capture_output=True, timeout=120)
        mjml_file = out / "ours" / "index.mjml"
        code = (
            "from mailer.build import write_build; from mailer.config import load_config; "
            f"write_build({str(SAMPLE)!r}, load_config('mailer.toml'), {str(out / 'lib')!r}, "
            "lang='en')"
        )
        commands = {"all": every, "cli": build, "library": [sys.executable, "-c", code]}
        have_reference = mjml_cli.exists() and node is not None
        if have_reference:
            commands["reference"] = [str(mjml_cli), str(mjml_file), "-o", str(out / "ref.html")]
        figures = interleaved(commands, PROCESS_RUNS, ROOT)
        rows = [
            ("all", "mailer build, 3 languages (en tr ar)"),
            ("cli", "mailer build --lang en"),
            ("library", "build path only (python -c, en)"),
            ("reference", "MJML 5 reference CLI (one language)"),
        ]
        print(f"whole process, median of {PROCESS_RUNS} interleaved rounds:   wall       CPU")
        for key, label in rows:
            if key in figures:
                wall = statistics.median(figures[key].wall) * 1000
                cpu = statistics.median(figures[key].cpu) * 1000
                print(f"  {label:<40} {wall:7.0f} ms {cpu:6.0f} ms")
        if have_reference:
            print("paired, reference / mailer (median of the rounds' ratios):  wall     CPU")
            for key, label in rows[:3]:
                wall_ratio, cpu_ratio = paired(figures["reference"], figures[key])
                print(f"  {label:<40} {wall_ratio:7.2f}x {cpu_ratio:6.2f}x")
            print(f"  (issue 15 asks {GOAL:.0f}x of the three-language build)")
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
