"""CSV import into SQLite: rows/s beside a bare executemany floor, and peak memory by file size.

`python -m bench import`. Figures are printed, never asserted. Everything happens in a
temporary folder; the peak memory of each import is measured in a child process
(``RUSAGE_CHILDREN`` of a small launcher), so the sizes do not mix.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = 200_000
MEMORY_SIZES = (1_000, 200_000, 1_000_000)
NAMES = ["Ayşe Demir", "Mehmet Yıldız", "أحمد الحسن", "ليلى حداد", "John Miller", "Sarah Lee"]
LANGS = ["tr", "tr", "ar", "ar", "en", "en"]


def write_csv(path: Path, rows: int) -> None:
    """A realistic subscriber CSV: email, name, language and two attribute columns."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("email,name,language,organisation,city\n")
        for i in range(rows):
            k = i % len(NAMES)
            fh.write(
                f"user{i}@partner{i % 997}.example.org,{NAMES[k]} {i},{LANGS[k]},"
                f'"Org {i % 113}, Ankara",Gaziantep\n'
            )


def floor(db_path: Path, rows: int) -> tuple[float, float]:
    """(seconds, CPU seconds) for a bare sqlite3 executemany of the same rows into the same schema
    (subscribers + memberships, one transaction, values prepared in advance)."""
    from mailer import db

    db.connect(f"sqlite:///{db_path}")
    db.dispose_all()
    now = "2026-01-01 00:00:00.000000"
    subs = [
        (
            f"user{i}@partner{i % 997}.example.org",
            f"user{i}@partner{i % 997}.example.org",
            f"{NAMES[i % 6]} {i}",
            LANGS[i % 6],
            json.dumps({"organisation": f"Org {i % 113}, Ankara", "city": "Gaziantep"}),
            "subscribed",
            "bench",
            now,
            now,
        )
        for i in range(rows)
    ]
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    start, cpu = time.perf_counter(), time.process_time()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO lists (name, description, created_at) VALUES ('bench', '', ?)", (now,)
    )
    conn.executemany(
        "INSERT INTO subscribers (email, email_key, name, language, attributes, status, source,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        subs,
    )
    conn.executemany(
        "INSERT INTO memberships (list_id, subscriber_id, created_at) VALUES (1, ?, ?)",
        ((i + 1, now) for i in range(rows)),
    )
    conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return elapsed, cpu


CHILD = """
import gc, sys, time
from mailer import db
from mailer.audience import csvimport
engine = db.connect(sys.argv[1])
gc.freeze()  # as `mailer subscribers import` does: start-up objects out of the collector's way
start, cpu = time.perf_counter(), time.process_time()
report = csvimport.import_csv(engine, sys.argv[2], "bench")
print(time.perf_counter() - start, report.added, time.process_time() - cpu, flush=True)
"""

# Linux carries ru_maxrss across fork+exec, so the import runs as the child of a small
# launcher (not of this process, which holds the floor's rows); the launcher reports
# RUSAGE_CHILDREN, i.e. the peak RSS of that one import.
LAUNCHER = """
import resource, subprocess, sys
out = subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]], check=True,
                     capture_output=True, text=True).stdout.strip()
print(out, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def import_in_child(db_path: Path, csv_path: Path) -> tuple[float, int, float, int]:
    """(seconds, rows added, CPU seconds, peak RSS in KiB) of `import_csv` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", LAUNCHER, CHILD, f"sqlite:///{db_path}", str(csv_path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout.split()
    return float(out[0]), int(out[1]), float(out[2]), int(out[3])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as tmp:
        d = Path(tmp)
        csv_path = d / "200k.csv"
        write_csv(csv_path, ROWS)
        size_mb = csv_path.stat().st_size / 1e6
        seconds, added, cpu, _ = import_in_child(d / "import.db", csv_path)
        floor_s, floor_cpu = floor(d / "floor.db", ROWS)
        print(f"rows: {ROWS:,} ({size_mb:.1f} MB CSV); wall clock, and CPU time (steadier on a")
        print("busy machine: the load average is printed at the end)")
        print(
            f"import_csv (parse, validate, upsert, list):  {seconds:6.2f} s "
            f"{added / seconds:9,.0f} rows/s | CPU {cpu:5.2f} s {added / cpu:9,.0f} rows/s"
        )
        print(
            f"floor: bare executemany of the same rows:    {floor_s:6.2f} s "
            f"{ROWS / floor_s:9,.0f} rows/s | CPU {floor_cpu:5.2f} s "
            f"{ROWS / floor_cpu:9,.0f} rows/s"
        )
        print(f"import / floor: {seconds / floor_s:.1f}x wall, {cpu / floor_cpu:.1f}x CPU")
        print("peak RSS of the importing process (a fresh interpreter each):")
        for n in MEMORY_SIZES:
            path = d / f"{n}.csv"
            write_csv(path, n)
            s, rows, _, peak_kib = import_in_child(d / f"mem{n}.db", path)
            print(
                f"  {n:>9,} rows ({path.stat().st_size / 1e6:6.1f} MB): "
                f"{peak_kib / 1024:6.1f} MiB  ({rows / s:,.0f} rows/s)"
            )
            path.unlink()
            os.unlink(d / f"mem{n}.db")
        print(f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
