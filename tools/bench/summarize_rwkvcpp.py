#!/usr/bin/env python3
"""Summarise the raw log of run_rwkvcpp.sh into a markdown table (medians).

Usage: python3 summarize_rwkvcpp.py RESULTS.txt [--min-util 0.0]
Runs whose decode cpu_util is below --min-util are left out of the medians
(they are still counted in the 'runs' column as n_used/n_total).
"""
import re
import statistics
import sys

FMT_ORDER = ["FP32", "FP16", "Q8_0", "Q5_1", "Q4_0"]


def parse(path):
    runs, cur = [], None
    for line in open(path, errors="replace"):
        m = re.match(r"### run model=(\S+) fmt=(\S+) threads=(\d+) rep=(\d+) .*idle_before=(\d+)% waited=(\d+)s loadavg=(\S+)", line)
        if m:
            cur = dict(model=m[1], fmt=m[2], threads=int(m[3]), rep=int(m[4]), idle=int(m[5]), load=float(m[7]),
                       prefill={}, putil={}, ok=False)
            runs.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r"load: ([\d.]+) ms", line)
        if m:
            cur["load_ms"] = float(m[1])
        m = re.match(r"decode: \d+ tokens, ([\d.]+) ms/token, ([\d.]+) tok/s, cpu_util ([\d.]+)", line)
        if m:
            cur["dec_ms"], cur["dec_tps"], cur["dutil"] = float(m[1]), float(m[2]), float(m[3])
        m = re.match(r"prefill: \d+ tokens, chunk (\d+): [\d.]+ ms, ([\d.]+) tok/s, cpu_util ([\d.]+)", line)
        if m:
            cur["prefill"][int(m[1])] = float(m[2])
            cur["putil"][int(m[1])] = float(m[3])
        if line.startswith("rwkvcpp "):
            cur["ok"] = True
        m = re.match(r"### end rc=(\d+) loadavg=(\S+)", line)
        if m:
            cur["rc"] = int(m[1])
            cur["load_end"] = float(m[2])
    return runs


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    path = sys.argv[1]
    min_util = float(sys.argv[sys.argv.index("--min-util") + 1]) if "--min-util" in sys.argv else 0.9
    runs = parse(path)
    cells = {}
    for r in runs:
        cells.setdefault((r["model"], r["fmt"], r["threads"]), []).append(r)
    chunks = [16, 32, 64, 128]

    def cell(vals):
        """vals: list of (value, util). Median of the clean ones."""
        clean = [v for v, u in vals if u >= min_util]
        if clean:
            return med(clean), len(clean), len(vals)
        return None, 0, len(vals)

    def fmt(x, n, tot, prec=1):
        if x is None:
            return "contended (0/%d)" % tot if tot else "n/a"
        return ("%." + str(prec) + "f") % x + ("" if n >= 2 else " (n=%d)" % n)

    print("| model | format | threads | prefill tok/s (best chunk) | " + " | ".join("chunk %d" % c for c in chunks)
          + " | decode tok/s | decode ms/tok | load ms | runs |")
    print("|---|---|---:|---:|" + "---:|" * len(chunks) + "---:|---:|---:|---:|")
    key = lambda k: (k[0], FMT_ORDER.index(k[1]) if k[1] in FMT_ORDER else 99, k[2])
    for k in sorted(cells, key=key):
        rs = [r for r in cells[k] if "dec_tps" in r]
        pc = {c: cell([(r["prefill"][c], r["putil"][c]) for r in rs if c in r["prefill"]]) for c in chunks}
        dec = cell([(r["dec_tps"], r["dutil"]) for r in rs])
        decms = cell([(r["dec_ms"], r["dutil"]) for r in rs])
        good = [c for c in chunks if pc[c][0] is not None]
        if good:
            bc = max(good, key=lambda c: pc[c][0])
            best = "%.1f (%d)" % (pc[bc][0], bc)
        else:
            best = "contended"
        load = med([r["load_ms"] for r in rs if "load_ms" in r])
        print("| %s | %s | %d | %s | %s | %s | %s | %.0f | %d |" % (
            k[0], k[1], k[2], best, " | ".join(fmt(*pc[c]) for c in chunks),
            fmt(*dec, prec=2), fmt(*decms, prec=2), load, len(cells[k])))
    print()
    print("Medians over runs whose phase had cpu_util >= %.2f (process CPU time / wall / threads);" % min_util)
    print("'(n=1)' marks a median of a single clean run, 'contended (0/N)' a phase with no clean run.")


if __name__ == "__main__":
    main()
