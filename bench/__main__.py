"""``python -m bench``: generate the synthetic logs, measure, print one table, write RESULTS.md.

Every figure comes from this one run: the filter step the job runs
(``data_loader.select_datasets``) against naive pandas and DuckDB on the same files (each
run in its own process, alternating engines), the whole
``python -m ml_pipeline.auto_reinforcement`` on a local store holding a ``--job-rows`` log
as CSV, Parquet and daily Parquet files (wall time, the trainer's own time, and peak RSS,
the training subprocess included), and the start-up of its ``--help``. Medians of
``--repeats`` runs; ratios are ours / baseline.

Quick run: ``python -m bench --sizes 100k,1M --repeats 3``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.generate import DATA_DIR, END, ensure

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
ENGINES = ("ours", "pandas", "duckdb")
# Targets of issue 10 (2-core machine, ratios from one run): the filter step against DuckDB,
# and the whole job at 10M rows (time against DuckDB's filter + the trainer's own time).
TARGETS = {("10M", "csv"): {"vs_duckdb": 0.7}, ("10M", "parquet"): {"vs_duckdb": 1.0}}
JOB_TARGETS = {("10M", "csv"): {"vs_duckdb_trainer": 1.5, "peak_mb": 800}, ("10M", "parquet"): {"peak_mb": 500},
               ("10M", "daily"): {"peak_mb": 500}}
HELP_TARGET_S = 0.3
JOB_FORMATS = ("csv", "parquet", "daily")


def parse_size(text: str) -> int:
    """``100k``, ``1M``, ``10M`` or a plain number of rows."""
    t = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1_000}k" if n % 1_000 == 0 else str(n)


def child(args: list[str], env: dict[str, str] | None = None, cwd: Path = REPO) -> dict[str, Any]:
    """Run ``python -m bench.steps ARGS`` and return its JSON line."""
    proc = subprocess.run([sys.executable, "-m", "bench.steps", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench step {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


# --------------------------------------------------------------------------- filter step
def bench_filter(n: int, fmt: str, path: Path, repeats: int, engines: tuple[str, ...]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for i in range(repeats):
        order = engines[i % len(engines):] + engines[: i % len(engines)]  # alternate who goes first
        for e in order:
            runs[e].append(child([e, str(path)]))
        print(f"  {label(n)} {fmt} run {i + 1}/{repeats}: " + ", ".join(f"{e} {runs[e][-1]['seconds']:.2f}s" for e in engines), flush=True)
    out: dict[str, Any] = {"size": label(n), "rows": n, "format": fmt, "bytes": path.stat().st_size}
    for e in engines:
        out[e] = {"seconds": median(runs[e], "seconds"), "cpu_seconds": median(runs[e], "cpu_seconds"),
                  "peak_mb": median(runs[e], "peak_mb"), "all_seconds": [round(r["seconds"], 3) for r in runs[e]],
                  "errors": runs[e][0]["errors"], "replay": runs[e][0]["replay"], "holdout": runs[e][0]["holdout"]}
    if "pandas" in engines and (out["ours"]["errors"], out["ours"]["holdout"], out["ours"]["replay"]) != (
            out["pandas"]["errors"], out["pandas"]["holdout"], out["pandas"]["replay"]):
        raise SystemExit(f"ours and naive pandas disagree on {path.name}: {out['ours']} vs {out['pandas']}")
    return out


# --------------------------------------------------------------------------- whole job
def generate(n: int) -> dict[str, Path]:
    """The cached logs of ``n`` rows, generated in a child process: this process stays small, and
    so does the peak RSS its children inherit (Linux keeps ``ru_maxrss`` across exec)."""
    subprocess.run([sys.executable, "-c", f"from bench.generate import ensure; ensure({n})"], cwd=REPO, check=True)
    return ensure(n, quiet=True)


def job_home(n: int, fmt: str) -> Path:
    """A local store holding the ``n``-row log (``csv``, ``parquet`` or ``daily`` Parquet files),
    its model_config.yaml and the sample base model (cached)."""
    home = DATA_DIR / f"job-home-{n}-{fmt}"
    stamp = home / ".bench-ready"
    src = generate(n)["csv" if fmt == "csv" else "parquet"]
    code = f"""
import tempfile
from pathlib import Path
import yaml
import pyarrow.compute as pc, pyarrow.parquet as pq
from ml_pipeline import model_io
from ml_pipeline.local_store import LocalStore
from ml_pipeline.registry import Registry
from ml_pipeline.sample_data import base_model
from ml_pipeline.records import BUCKET_EVALUATION_LOGS
home, src, fmt = Path({str(home)!r}), Path({str(src)!r}), {fmt!r}
store = LocalStore(home)
cfg = yaml.safe_load(Path({str(REPO / "model_config.yaml")!r}).read_text())
if fmt == "daily":
    cfg["evaluation_log"]["path"] = "daily/"
    pf = pq.ParquetFile(src)
    days = {{}}
    for g in range(pf.metadata.num_row_groups):
        t = pf.read_row_group(g)
        day = pc.strftime(t["created_at"], "%Y-%m-%d")
        for d in pc.unique(day).to_pylist():
            days.setdefault(d, []).append(t.filter(pc.equal(day, d)))
    import io, pyarrow as pa
    for d, parts in sorted(days.items()):
        buf = io.BytesIO()
        pq.write_table(pa.concat_tables(parts), buf)
        store.put_object(BUCKET_EVALUATION_LOGS, f"daily/{{d}}.parquet", buf.getvalue())
        del parts
else:
    name = "evaluation_log." + fmt
    cfg["evaluation_log"]["path"] = name
    store.put_object(BUCKET_EVALUATION_LOGS, name, src.read_bytes())
(home / "model_config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
with tempfile.TemporaryDirectory() as tmp:
    p = Path(tmp) / "base.skops"
    model_io.dump(base_model(), p)
    Registry(store, home / "cache").register(p, ["home_win", "draw", "away_win"], note="bench base model")
store.close()
"""
    # The cache is valid for this log file and this set-up code (e.g. the model file format).
    ready = f"{src.stat().st_mtime_ns} {hashlib.sha256(code.encode()).hexdigest()[:16]}"
    if stamp.is_file() and stamp.read_text() == ready:
        return home
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    stamp.write_text(ready)
    return home


def job_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "ML_PIPELINE_"))}
    env.update(ML_PIPELINE_HOME=str(home), ML_PIPELINE_BACKEND="local", ML_PIPELINE_CONFIG=str(home / "model_config.yaml"),
               LOG_LEVEL="INFO")
    return env


def bench_job(n: int, fmt: str, repeats: int, code: Path) -> dict[str, Any]:
    """The whole job on a fresh copy of the store; ``code``: the tree whose ml_pipeline runs."""
    template = job_home(n, fmt)
    runs = []
    cmd = [sys.executable, "-m", "ml_pipeline.auto_reinforcement", "--as-of", END.isoformat()]
    for i in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-job-") as tmp:
            home = Path(tmp) / "home"
            shutil.copytree(template, home)
            r = child(["run", "--cwd", str(code), "--", *cmd], env=job_env(home))
        if r["returncode"] != 0 or "completed" not in r["stdout"]:
            raise SystemExit(f"the job did not complete (exit {r['returncode']}):\n{r['stdout']}\n{r['stderr']}")
        runs.append(r)
        print(f"  job {label(n)} {fmt} run {i + 1}/{repeats}: {r['seconds']:.2f}s (trainer {r['trainer_seconds']}s), {r['peak_mb']:.0f} MB", flush=True)
    trainer = [r["trainer_seconds"] for r in runs if r["trainer_seconds"] is not None]
    return {"size": label(n), "format": fmt, "seconds": median(runs, "seconds"), "peak_mb": median(runs, "peak_mb"),
            "trainer_seconds": statistics.median(trainer) if trainer else None,
            "all_seconds": [round(r["seconds"], 3) for r in runs], "summary": runs[0]["stdout"].strip().splitlines()[-1][:300]}


def bench_help(repeats: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "ml_pipeline.auto_reinforcement", "--help"]
    runs = [child(["run", "--", *cmd]) for _ in range(max(repeats, 5))]
    return {"seconds": median(runs, "seconds"), "peak_mb": median(runs, "peak_mb"), "all_seconds": [round(r["seconds"], 3) for r in runs]}


# --------------------------------------------------------------------------- report
def machine() -> dict[str, str]:
    import importlib.metadata as md

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), platform.processor())
    mem = next((int(ln.split()[1]) // 1024 for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), 0)
    versions = {}
    for pkg in ("pandas", "pyarrow", "numpy", "duckdb", "scikit-learn"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "-"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "ml_pipeline", "bench", ":!bench/RESULTS.md", ":!bench/results.json"],
                           cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": f"{mem / 1024:.0f} GiB", "python": platform.python_version(),
            "os": platform.platform(), "commit": commit + (" (with local changes)" if dirty else ""),
            **{k: v for k, v in versions.items()}}


FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet", "daily": "daily Parquet files"}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render(results: dict[str, Any], command: str) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark results", "",
        f"Produced by `{command}` on {results['date']} (median of {results['repeats']} runs per figure, "
        "each in its own process; ratios are ours / baseline, below 1 is better).", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; {m['os']}; Python {m['python']}; "
        f"pandas {m['pandas']}, pyarrow {m['pyarrow']}, numpy {m['numpy']}, duckdb {m['duckdb']}, scikit-learn {m['scikit-learn']}; "
        f"commit {m['commit']}. Load average before / after: {results['load_before']} / {results['load_after']}.", "",
        "## Filter step (read, validate, keep the window's errors, build holdout and replay)", "",
        "Window: 7 days of 30 (about 23 % of the rows); 'ours' is `data_loader.select_datasets` as the job calls it "
        "(the window, plus the 16 days the decay check reads and counts; pandas and DuckDB do the 7-day window only). "
        "Time is wall clock after imports; memory is the peak RSS of the process.", "",
        "| rows | format | file MB | ours s | pandas s | duckdb s | ours/pandas | ours/duckdb | ours MB | pandas MB | duckdb MB | MB ours/pandas | MB ours/duckdb | errors / replay / holdout (ours) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    window_only = [f for f in results["filter"] if "ours_window" in f]
    for f in (f for f in results["filter"] if "ours" in f):
        o, p, d = f["ours"], f.get("pandas"), f.get("duckdb")
        lines.append(
            f"| {f['size']} | {f['format']} | {f['bytes'] / 2**20:.0f} | {o['seconds']:.2f} | "
            f"{p['seconds'] if p else float('nan'):.2f} | {d['seconds'] if d else float('nan'):.2f} | "
            f"{ratio(o['seconds'], p['seconds']) if p else '-'} | {ratio(o['seconds'], d['seconds']) if d else '-'} | "
            f"{o['peak_mb']:.0f} | {p['peak_mb'] if p else float('nan'):.0f} | {d['peak_mb'] if d else float('nan'):.0f} | "
            f"{ratio(o['peak_mb'], p['peak_mb']) if p else '-'} | {ratio(o['peak_mb'], d['peak_mb']) if d else '-'} | "
            f"{o['errors']} / {o['replay']} / {o['holdout']} |")
    if window_only:
        lines += ["", "'ours, window only' is the same function as `--dry-run`, `python -m ml_pipeline.data_loader` and the "
                  "guide's functions call it (the 7 days, no decay days):", "",
                  "| rows | format | ours, window only s | MB | ratio to duckdb |", "|---|---|---:|---:|---:|"]
        for f in window_only:
            w, d = f["ours_window"], f.get("duckdb")
            lines.append(f"| {f['size']} | {f['format']} | {w['seconds']:.2f} | {w['peak_mb']:.0f} | {ratio(w['seconds'], d['seconds']) if d else '-'} |")
    lines += ["", "## Whole job and start-up", "",
              "`python -m ml_pipeline.auto_reinforcement --as-of 2026-11-20` on a fresh copy of a local store holding the log "
              "and the sample base model (fine-tuning; the data step reads the 7-day window and the 16 days of the decay check). "
              "Trainer: the training subprocess's own wall time, from the job's log. Peak: the largest process (job or trainer).", "",
              "| what | wall s | trainer s | peak MB (largest process) | runs (s) |", "|---|---:|---:|---:|---|"]
    for j in results.get("jobs", []):
        t = f"{j['trainer_seconds']:.2f}" if j.get("trainer_seconds") is not None else "-"
        lines.append(f"| whole job, {j['size']}-row log, {FORMAT_NAMES.get(j['format'], j['format'])} | {j['seconds']:.2f} | {t} | {j['peak_mb']:.0f} | {j['all_seconds']} |")
    if results.get("help"):
        h = results["help"]
        lines.append(f"| `python -m ml_pipeline.auto_reinforcement --help` | {h['seconds']:.3f} | | {h['peak_mb']:.0f} | {h['all_seconds']} |")
    lines += ["", "## Targets (issue 10)", "", "| target | figure | result |", "|---|---|---|"]
    filters = {(f["size"], f["format"]): f for f in results["filter"]}
    for f in results["filter"]:
        t = TARGETS.get((f["size"], f["format"]))
        if t and "duckdb" in f and "ours" in f:
            r = f["ours"]["seconds"] / f["duckdb"]["seconds"]
            lines.append(f"| filter, {f['size']} {f['format']}: time <= {t['vs_duckdb']}x DuckDB | {r:.2f}x | {verdict(r <= t['vs_duckdb'])} |")
    for j in results.get("jobs", []):
        t = JOB_TARGETS.get((j["size"], j["format"]))
        if not t:
            continue
        f = filters.get((j["size"], j["format"]))
        if "vs_duckdb_trainer" in t and f and "duckdb" in f and j.get("trainer_seconds") is not None:
            base = f["duckdb"]["seconds"] + j["trainer_seconds"]
            r = j["seconds"] / base
            lines.append(f"| whole job, {j['size']} {j['format']}: <= {t['vs_duckdb_trainer']}x (DuckDB filter + trainer) "
                         f"| {j['seconds']:.2f} s / ({f['duckdb']['seconds']:.2f} + {j['trainer_seconds']:.2f}) s = {r:.2f}x | {verdict(r <= t['vs_duckdb_trainer'])} |")
        lines.append(f"| whole job, {j['size']} {FORMAT_NAMES.get(j['format'], j['format'])}: peak <= {t['peak_mb']} MB | {j['peak_mb']:.0f} MB | {verdict(j['peak_mb'] <= t['peak_mb'])} |")
    if results.get("help"):
        lines.append(f"| `--help` <= {HELP_TARGET_S} s | {results['help']['seconds']:.3f} s | {verdict(results['help']['seconds'] <= HELP_TARGET_S)} |")
    lines += ["", "Raw figures: `bench/results.json`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,1M,10M", help="log sizes (default %(default)s)")
    parser.add_argument("--formats", default="csv,parquet", help="default %(default)s")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported (default %(default)s)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="default %(default)s")
    parser.add_argument("--job-rows", default="1M,10M", help="log sizes of the whole-job runs ('0' to skip; default %(default)s)")
    parser.add_argument("--job-formats", default=",".join(JOB_FORMATS), help="csv, parquet and/or daily (Parquet files); default %(default)s")
    parser.add_argument("--code", default=str(REPO), help="tree whose ml_pipeline the whole-job runs use (e.g. a worktree of an older commit "
                        "for before/after figures); default this one")
    parser.add_argument("--no-write", action="store_true", help="print the table only; leave RESULTS.md alone")
    args = parser.parse_args(argv)
    command = "python -m bench" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(sys.argv[1:] if argv is None else argv))
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    formats = [f for f in args.formats.split(",") if f]
    engines = tuple(e for e in args.engines.split(",") if e)
    results: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "repeats": args.repeats,
                               "machine": machine(), "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()), "filter": []}
    if Path(args.code).resolve() != REPO:
        results["machine"]["commit"] += f"; whole job run from {args.code}"
    t0 = time.monotonic()
    for n in sizes:
        files = generate(n)
        for fmt in formats:
            results["filter"].append(bench_filter(n, fmt, files[fmt], args.repeats, engines))
    results["jobs"] = [bench_job(n, fmt, args.repeats, Path(args.code).resolve())
                       for n in (parse_size(x) for x in args.job_rows.split(",") if x) if n
                       for fmt in args.job_formats.split(",") if fmt]
    results["help"] = bench_help(args.repeats)
    results["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = render(results, command)
    print()
    print(text)
    print(f"(bench took {time.monotonic() - t0:.0f} s)")
    if not args.no_write:
        RESULTS.write_text(text)
        (RESULTS.parent / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
