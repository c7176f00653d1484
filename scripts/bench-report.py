#!/usr/bin/env python3
"""Turn smr-bench's CSV into gnuplot PNGs and the generated section of
docs/BENCHMARKS.md (between the smr-bench markers; the rest is kept).
Called by scripts/bench-report."""
import argparse
import csv
import datetime
import os
import subprocess
import tempfile
from collections import defaultdict

BEGIN = "<!-- smr-bench:begin -->"
END = "<!-- smr-bench:end -->"
SCHEMES = ["smr", "smr-lazy", "smr-deferred", "urcu-memb", "urcu-qsbr",
           "ck-epoch", "rwlock", "leak", "xchg", "smr-user", "smr-lazy-user",
           "smr-static", "smr-lazy-static"]

ap = argparse.ArgumentParser()
for a in ("csv", "log", "pool-log", "machine", "img", "doc", "cmd"):
    ap.add_argument("--" + a, required=True)
ap.add_argument("--seconds", type=int, default=0)
args = ap.parse_args()

rows = list(csv.DictReader(open(args.csv)))
R = {}
for r in rows:
    R[(r["bench"], r["scheme"], int(r["threads"]), r["param"], r["metric"])] = (
        float(r["median"]), float(r["min"]), float(r["max"]), int(r["n"]))


def get(b, s, t, p, m):
    return R.get((b, s, t, p, m))


def threads_of(b):
    return sorted({k[2] for k in R if k[0] == b})


def schemes_of(b):
    have = {k[1] for k in R if k[0] == b}
    return [s for s in SCHEMES if s in have]


def fmt(v, d=2):
    return "%.*f" % (d, v)


def cell(v, d=2):
    if v is None:
        return "–"
    return "%s (%s–%s)" % (fmt(v[0], d), fmt(v[1], d), fmt(v[2], d))


# The thread count the targets are judged at: 2 if measured, else the
# largest count not above the PU count (the first B3 row says npu).
b1t = threads_of("b1")
npu = max(threads_of("b3") or [max(b1t or [1])])
T2 = 2 if 2 in b1t or 2 in threads_of("b2") else min(npu, max(b1t or [1]))

# ---------------------------------------------------------------- plots
os.makedirs(args.img, exist_ok=True)
tmp = tempfile.mkdtemp(prefix="smr-bench-plot.")
images = []


def gnuplot(script):
    subprocess.run(["gnuplot"], input=script.encode(), check=True)


def png(name):
    p = os.path.join(args.img, name)
    images.append(name)
    return p


TERM = 'set terminal pngcairo size 900,540 font "DejaVu Sans,10"\n'
if subprocess.run(["gnuplot", "-e", "set terminal pngcairo"],
                  capture_output=True).returncode != 0:
    TERM = "set terminal png size 900,540\n"

# B2: throughput vs threads, one chart per mix, wall and CPU time.
for metric, mix in [(m, x) for m in ("mops", "mops_cpu")
                    for x in ("100/0", "90/10", "50/50")]:
    ss = [s for s in schemes_of("b2") if get("b2", s, b1t[0] if b1t else 1,
                                             mix, "mops") or True]
    tag = ("b2" if metric == "mops" else "b2cpu") + "-" + mix.replace("/", "-")
    dat = os.path.join(tmp, tag + ".dat")
    plots = []
    with open(dat, "w") as f:
        idx = 0
        for s in ss:
            pts = [(t, get("b2", s, t, mix, metric)) for t in threads_of("b2")]
            pts = [(t, v) for t, v in pts if v is not None]
            if not pts:
                continue
            for t, v in pts:
                f.write("%d %g %g %g\n" % (t, v[0], v[1], v[2]))
            f.write("\n\n")
            plots.append("'%s' index %d using 1:2:3:4 with yerrorlines "
                         "lw 2 title '%s'" % (dat, idx, s))
            idx += 1
    if not plots:
        continue
    out = png("smr-bench-%s.png" % tag)
    what = ("throughput vs threads" if metric == "mops"
            else "ops per CPU-second vs threads")
    ylab = "Mops/s (wall)" if metric == "mops" else "Mops per CPU-second"
    gnuplot(TERM + """set output '%s'
set title "B2 hash set, %s lookup/update: %s (median, min-max bars)"
set xlabel "threads"
set ylabel "%s"
set key outside right
set grid
set xtics (%s)
set yrange [0:*]
plot %s
""" % (out, mix, what, ylab, ", ".join(str(t) for t in threads_of("b2")),
       ", ".join(plots)))

# B1: read-side ns per scheme at T2, three writer rates.
if b1t:
    dat = os.path.join(tmp, "b1.dat")
    with open(dat, "w") as f:
        for s in schemes_of("b1"):
            vals = [get("b1", s, T2, p, "cpu_ns_per_section") for p in
                    ("never", "100us", "1us")]
            f.write('"%s" %s\n' % (s, " ".join(
                "%g" % (v[0] if v else float("nan")) for v in vals)))
    out = png("smr-bench-b1.png")
    gnuplot(TERM + """set output '%s'
set title "B1 read section (enter; load; deref; exit), %d readers: CPU ns per section (median, log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [0.3:*]
set ylabel "CPU ns per section (thread CPU time)"
set grid ytics
set xtics rotate by -30
set key top left
plot '%s' using 2:xtic(1) title 'no writer', '' using 3 title 'writer every 100 us', '' using 4 title 'writer every 1 us'
""" % (out, T2, dat))

# B3: unreclaimed objects over time.
b3 = [s for s in schemes_of("b3ts")]
if b3:
    dat = os.path.join(tmp, "b3.dat")
    plots = []
    with open(dat, "w") as f:
        for i, s in enumerate(b3):
            pts = sorted((int(k[3]), v[0]) for k, v in R.items()
                         if k[0] == "b3ts" and k[1] == s and k[4] == "pending")
            for t, v in pts:
                f.write("%d %g\n" % (t, max(v, 1)))
            f.write("\n\n")
            plots.append("'%s' index %d using 1:2 with lines lw 2 title '%s'"
                         % (dat, i, s))
    out = png("smr-bench-b3.png")
    gnuplot(TERM + """set output '%s'
set title "B3 stalled reader: unreclaimed objects (sampled every 10 ms; log scale, 0 drawn as 1)"
set xlabel "ms since start (the reader sits in its section from about 1/4 of the stall in)"
set ylabel "objects retired, not yet reclaimed"
set logscale y
set grid
set key outside right
plot %s
""" % (out, ", ".join(plots)))

# ---------------------------------------------------------------- targets
targets = []


def ratio(a, b):
    if a is None or b is None or b[0] == 0:
        return None
    return a[0] / b[0]


def verdict(r, op, lim):
    if r is None:
        return "not measured"
    ok = r <= lim if op == "<=" else r >= lim
    return "%.3f %s" % (r, "met" if ok else "**MISSED**")


def target(what, a, b, ac, bc, op, lim):
    targets.append((what, verdict(ratio(a, b), op, lim),
                    verdict(ratio(ac, bc), op, lim), "%s %.2f" % (op, lim)))


b1 = lambda s: get("b1", s, T2, "never", "ns_per_section")
b1c = lambda s: get("b1", s, T2, "never", "cpu_ns_per_section")
b2 = lambda s: get("b2", s, T2, "90/10", "mops")
b2c = lambda s: get("b2", s, T2, "90/10", "mops_cpu")


def t2(what, x, y, op, lim, f, fc):
    target(what, f(x), f(y), fc(x), fc(y), op, lim)


t2("B1 smr-lazy section / urcu-memb section", "smr-lazy", "urcu-memb",
   "<=", 1.0, b1, b1c)
t2("B1 smr (fenced) section / ck-epoch begin/end(rec, NULL)", "smr",
   "ck-epoch", "<=", 1.05, b1, b1c)
t2("B1 smr (fenced) section / bare xchg + release store", "smr", "xchg",
   "<=", 1.10, b1, b1c)
t2("B2 90/10 smr-lazy / leak", "smr-lazy", "leak", ">=", 0.95, b2, b2c)
t2("B2 90/10 smr-lazy / urcu-memb", "smr-lazy", "urcu-memb", ">=", 1.0, b2,
   b2c)
t2("B2 90/10 smr (fenced) / leak", "smr", "leak", ">=", 0.90, b2, b2c)
for s in ("smr", "smr-lazy", "smr-deferred"):
    d = [v for k, v in R.items() if k[0] == "b3" and k[1] == s and
         k[4] == "drain_ms"]
    if d:
        v = d[0][0]
        ok = 0 <= v <= 10
        targets.append(("B3 %s pool queue drained after the reader leaves (ms)"
                        % s, ("not drained" if v < 0 else "%.2f" % v) +
                        (" met" if ok else " **MISSED**"), "(wall time)",
                        "<= 10"))

# ---------------------------------------------------------------- document
L = []
L.append(BEGIN)
L.append("")
L.append("## smr-bench suite (generated by scripts/bench-report)")
L.append("")
L.append("Everything between the `smr-bench` markers is rewritten by "
         "`scripts/bench-report`; the rest of this file is left alone.")
L.append("")
L.append("- Generated: %s UTC, %d s of benchmarking." % (
    datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), args.seconds))
L.append("- Command: `%s`" % args.cmd)
L.append("- Raw data: `docs/bench-data/smr-bench.csv`, "
         "`docs/bench-data/smr-bench.txt`, `docs/bench-data/bench_pool.txt`, "
         "`docs/bench-data/machine.txt`.")
L.append("")
mach = open(args.machine).read().rstrip("\n").split("\n")
L.append("### Machine")
L.append("")
L.append("```")
L.extend(mach)
L.append("```")
L.append("")
log = open(args.log).read().split("\n")
L.append("Run header (from smr-bench):")
L.append("")
L.append("```")
for line in log:
    if not line.strip():
        break
    L.append(line)
L.append("```")
L.append("")
L.append("Method: hwloc pinning, one thread per PU (round-robin beyond the "
         "PU count, so the last thread count is 2x oversubscribed); every "
         "round runs every configuration with the scheme order shuffled; "
         "cells are the median over rounds with the min–max range. "
         "Schemes: `smr` (default domain, smr_enter/exit, SMR pool), "
         "`smr-lazy` (SMR_LAZY, smr_lazy_enter/exit, SMR pool), "
         "`smr-deferred` (SMR_DEFERRED limit 64, SMR pool), `urcu-memb` and "
         "`urcu-qsbr` (liburcu, _LGPL_SOURCE inline read side, malloc + "
         "call_rcu(free); QSBR reports a quiescent state every 256 sections "
         "in B1 and every 64 operations in B2), `ck-epoch` "
         "(ck_epoch_begin/end(rec, NULL), malloc + ck_epoch_call(free), "
         "ck_epoch_poll every 64 calls, ck_epoch_barrier at thread end), "
         "`rwlock` (pthread_rwlock read-locked readers, free after the write "
         "unlock), `leak` (no read-side protocol, nodes bump-allocated and "
         "never freed during a run: the ceiling) and, in B1 only, `xchg` (a "
         "bare `xchg` publish + release store on a per-thread slot: the "
         "floor of a fenced publish), `smr-user` and "
         "`smr-lazy-user` (the smr and smr-lazy sections in a user's layout: "
         "the handle read from a plain global smr_t at every enter and exit, "
         "the shared pointer a plain global; see *bench_user*), `smr-static` and "
         "`smr-lazy-static` (the same loop on domains declared with "
         "SMR_DEFINE_STATIC[_LAZY]: smr_static_enter/exit). "
         "A scheme that cannot run is listed as "
         "skipped in the run header, never faked.")
L.append("")
L.append("### Targets (judged at %d threads, ratios of medians)" % T2)
L.append("")
L.append("Two measures: wall time (what the tables below show) and CPU "
         "time (CLOCK_THREAD_CPUTIME_ID: ns per section, or ops per "
         "CPU-second), which leaves out the time a thread sat descheduled. "
         "When other work loads the machine (see the load average in the "
         "machine block) the CPU-time ratio is the more faithful one.")
L.append("")
L.append("| target | wall-time ratio | CPU-time ratio | wanted |")
L.append("| --- | --- | --- | --- |")
for t in targets:
    L.append("| %s | %s | %s | %s |" % t)
L.append("")
L.append("Analysis of the misses (profiles): see *smr-bench: analysis* "
         "below the generated block.")
L.append("")

# B1 tables
if b1t:
    L.append("### B1 primitive: ns per read section")
    L.append("")
    L.append("Each reader loops `enter; p = load_acquire(shared); sink += "
             "p->key; exit`; one extra writer thread (not counted) swaps the "
             "pointer at the given period and frees the old object through "
             "the scheme's path (pool free, call_rcu, ck_epoch_call, free "
             "after the write unlock). Mean over readers of ns per section: the "
             "tables give wall time (which counts time a thread sat "
             "descheduled, so it balloons when other work loads the "
             "machine), the chart and the CPU table give thread CPU time.")
    L.append("")
    L.append("![B1](img/smr-bench-b1.png)")
    L.append("")
    for p, pn in (("never", "no writer"), ("100us", "writer every 100 µs"),
                  ("1us", "writer every 1 µs")):
        L.append("**%s**" % pn)
        L.append("")
        L.append("| scheme | " + " | ".join("T=%d" % t for t in b1t) + " |")
        L.append("| --- |" + " --- |" * len(b1t))
        for s in schemes_of("b1"):
            L.append("| %s | " % s + " | ".join(
                cell(get("b1", s, t, p, "ns_per_section")) for t in b1t) + " |")
        if p == "never":
            L.append("")
            L.append("CPU time per section, no writer (ns, "
                     "CLOCK_THREAD_CPUTIME_ID):")
            L.append("")
            L.append("| scheme | " + " | ".join("T=%d" % t for t in b1t) +
                     " |")
            L.append("| --- |" + " --- |" * len(b1t))
            for s in schemes_of("b1"):
                L.append("| %s | " % s + " | ".join(
                    cell(get("b1", s, t, p, "cpu_ns_per_section"))
                    for t in b1t) + " |")
        if p != "never":
            L.append("| *swaps/s (smr)* | " + " | ".join(
                cell(get("b1", "smr", t, p, "swaps_per_s"), 0) for t in b1t)
                + " |")
        L.append("")

b2t = threads_of("b2")
if b2t:
    L.append("### B2 hash set: Mops/s (ratio to leak)")
    L.append("")
    L.append("2^16 chained buckets, keys uniform in [0, 2^17), prefilled "
             "with 2^16 keys; per-bucket pthread_rwlock write-locked by "
             "updates (insert or delete a random key, half each); lookups "
             "lock-free inside the scheme's read section (read-locked for "
             "rwlock). Nodes (32 bytes) come from the scheme's natural "
             "allocator.")
    L.append("")
    for mix in ("100/0", "90/10", "50/50"):
        L.append("**%s lookup/update**" % mix)
        L.append("")
        L.append("![B2 %s](img/smr-bench-b2-%s.png)" % (
            mix, mix.replace("/", "-")))
        L.append("")
        L.append("| scheme | " + " | ".join("T=%d" % t for t in b2t) + " |")
        L.append("| --- |" + " --- |" * len(b2t))
        for s in schemes_of("b2"):
            cells = []
            for t in b2t:
                v = get("b2", s, t, mix, "mops")
                x = get("b2", s, t, mix, "x_leak")
                cells.append("%s, **%.2fx**" % (cell(v), x[0]) if v and x
                             else cell(v))
            L.append("| %s | " % s + " | ".join(cells) + " |")
        L.append("")
        L.append("Per CPU-second (Mops per CPU-s, ratio to leak):")
        L.append("")
        L.append("![B2 %s CPU](img/smr-bench-b2cpu-%s.png)" % (
            mix, mix.replace("/", "-")))
        L.append("")
        L.append("| scheme | " + " | ".join("T=%d" % t for t in b2t) + " |")
        L.append("| --- |" + " --- |" * len(b2t))
        for s in schemes_of("b2"):
            cells = []
            for t in b2t:
                v = get("b2", s, t, mix, "mops_cpu")
                x = get("b2", s, t, mix, "x_leak_cpu")
                cells.append("%s, **%.2fx**" % (cell(v), x[0]) if v and x
                             else cell(v))
            L.append("| %s | " % s + " | ".join(cells) + " |")
        L.append("")

b3s = schemes_of("b3")
if b3s:
    L.append("### B3 stalled reader")
    L.append("")
    L.append("%d workers run the 50/50 B2 mix; one more thread enters a "
             "read section a quarter of the stall in and sleeps in it. "
             "Unreclaimed = pool `pending` for libsmr, callbacks queued minus "
             "run for urcu/ck. Drain = from the reader's exit until "
             "everything retired before it has been reclaimed (pool: every "
             "bucket queued before it has been reused), polled every "
             "100 µs. RSS is the whole process's (it includes earlier runs' "
             "heap)." % npu)
    L.append("")
    L.append("![B3](img/smr-bench-b3.png)")
    L.append("")
    L.append("| scheme | peak unreclaimed | peak RSS MiB | drain ms | "
             "Mops/s over the run |")
    L.append("| --- | --- | --- | --- | --- |")
    for s in b3s:
        g = lambda m: [v for k, v in R.items() if k[0] == "b3" and
                       k[1] == s and k[4] == m][0][0]
        dr = g("drain_ms")
        L.append("| %s | %d | %.1f | %s | %.2f |" % (
            s, g("peak_pending"), g("peak_rss_mib"),
            "not drained" if dr < 0 else "%.2f" % dr, g("mops")))
    L.append("")

b4s = schemes_of("b4")
if b4s:
    L.append("### B4 latency (µs)")
    L.append("")
    L.append("Reader threads run B1 sections on the other PUs while one "
             "thread measures. Grace: `smr_advance` then `smr_poll(goal, "
             "false)` in a loop; `smr_synchronize`; `synchronize_rcu`; "
             "`ck_epoch_synchronize`. Free-to-reuse: a thread churns "
             "alloc+free; for the pool, from `smr_pool_free(x)` until "
             "`smr_pool_alloc` returns x again; for urcu/ck, from "
             "call_rcu/ck_epoch_call until the free callback runs.")
    L.append("")
    L.append("| scheme | what | samples | p50 | p99 | max |")
    L.append("| --- | --- | --- | --- | --- | --- |")
    names = {"gp_poll": "grace: advance + poll loop",
             "gp_sync": "grace: synchronize", "reuse": "free-to-reuse"}
    for s in b4s:
        for k in ("gp_poll", "gp_sync", "reuse"):
            hits = [(kk, v) for kk, v in R.items() if kk[0] == "b4" and
                    kk[1] == s and kk[3] == k]
            if not hits:
                continue
            d = {kk[4]: v for kk, v in hits}
            L.append("| %s | %s | %d | %.2f | %.2f | %.2f |" % (
                s, names[k], d["p50_us"][3], d["p50_us"][0], d["p99_us"][0],
                d["max_us"][0]))
    L.append("")

L.append("### B5 allocator (bench_pool)")
L.append("")
L.append("B5 reuses `bench/bench_pool` (SMR pool against glibc, jemalloc, "
         "mimalloc and call_rcu); its output as run by the report:")
L.append("")
L.append("```")
L.extend(open(args.pool_log).read().rstrip("\n").split("\n"))
L.append("```")
L.append("")
L.append("### smr-bench full output")
L.append("")
L.append("<details><summary>smr-bench stdout</summary>")
L.append("")
L.append("```")
L.extend(l for l in log if l is not None)
L.append("```")
L.append("")
L.append("</details>")
L.append("")
L.append(END)
gen = "\n".join(L) + "\n"

if os.path.exists(args.doc):
    old = open(args.doc).read()
else:
    old = "# libsmr benchmarks\n\n"
b, e = old.find(BEGIN), old.find(END)
if b >= 0 and e > b:
    new = old[:b] + gen.rstrip("\n") + old[e + len(END):]
else:
    new = old.rstrip("\n") + "\n\n" + gen
with open(args.doc, "w") as f:
    f.write(new)
