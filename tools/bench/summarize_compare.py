#!/usr/bin/env python3
"""Turn the output of compare.sh into the README's markdown table.

Usage: python3 tools/bench/summarize_compare.py compare.txt
One row per shape x type x threads (medians over the repetitions): rwkv.cpp
and rwkv.h prefill and decode tokens/s, their ratios, rwkv.h's prefill and
decode with --int8 for quantized types, and the F32/F16 decode's roofline
fraction (bandwidth implied / read bandwidth measured in the same run).
"""
import re
import statistics
import sys
from collections import defaultdict


def main():
    cells = defaultdict(lambda: defaultdict(list))
    order = []
    key = None
    for line in open(sys.argv[1]):
        m = re.match(r"### (\S+) (\S+) t=(\d+) ", line)
        if m:
            key = m.group(1, 2, 3)
            if key not in order:
                order.append(key)
            continue
        if key is None:
            continue
        values = dict(re.findall(r"(\w+)=([\d.]+)", line))
        if line.startswith("rwkvcpp "):
            cells[key]["cpp_prefill"].append(float(values["prefill_tok_s"]))
            cells[key]["cpp_decode"].append(float(values["decode_tok_s"]))
        elif line.startswith("rwkvh-int8 "):
            cells[key]["int8_prefill"].append(float(values["prefill_tok_s"]))
            cells[key]["int8_decode"].append(float(values["decode_tok_s"]))
        elif line.startswith("rwkvh "):
            cells[key]["h_prefill"].append(float(values["prefill_tok_s"]))
            cells[key]["h_decode"].append(float(values["decode_tok_s"]))
            if "roofline" in values:
                cells[key]["roofline"].append(float(values["roofline"]))
    print("| shape | type | threads | rwkv.cpp prefill | rwkv.h prefill | ratio | `--int8` | ratio | "
          "rwkv.cpp decode | rwkv.h decode | ratio | roofline | `--int8` | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in order:
        c = cells[key]
        med = {k: statistics.median(v) for k, v in c.items() if v}
        if not all(k in med for k in ("cpp_prefill", "h_prefill", "cpp_decode", "h_decode")):
            continue

        def versus(name, peer):
            return ("%.1f | %.2f" % (med[name], med[name] / med[peer])) if name in med else "– | –"

        roofline = "%.2f" % med["roofline"] if "roofline" in med and key[1].startswith("FP") else "–"
        print("| %s | %s | %s | %.1f | %s | %s | %.1f | %s | %s | %s |" % (
            key[0], key[1], key[2], med["cpp_prefill"], versus("h_prefill", "cpp_prefill"),
            versus("int8_prefill", "cpp_prefill"), med["cpp_decode"], versus("h_decode", "cpp_decode"),
            roofline, versus("int8_decode", "cpp_decode")))

if __name__ == "__main__":
    main()
