#!/usr/bin/env python3
"""Turn the output of compare.sh into the README's markdown table.

Usage: python3 tools/bench/summarize_compare.py compare.txt
One row per shape x type x threads (medians over the repetitions): rwkv.cpp
and rwkv.h prefill and decode tokens/s, their ratios, and rwkv.h's decode
with --int8 for quantized types.
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
            cells[key]["int8_decode"].append(float(values["decode_tok_s"]))
        elif line.startswith("rwkvh "):
            cells[key]["h_prefill"].append(float(values["prefill_tok_s"]))
            cells[key]["h_decode"].append(float(values["decode_tok_s"]))
    print("| shape | type | threads | rwkv.cpp prefill | rwkv.h prefill | ratio | rwkv.cpp decode | "
          "rwkv.h decode | ratio | rwkv.h decode `--int8` | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key in order:
        c = cells[key]
        med = {k: statistics.median(v) for k, v in c.items() if v}
        if not all(k in med for k in ("cpp_prefill", "h_prefill", "cpp_decode", "h_decode")):
            continue
        int8 = ("%.1f | %.2f" % (med["int8_decode"], med["int8_decode"] / med["cpp_decode"])
                if "int8_decode" in med else "– | –")
        print("| %s | %s | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %s |" % (
            key[0], key[1], key[2], med["cpp_prefill"], med["h_prefill"],
            med["h_prefill"] / med["cpp_prefill"], med["cpp_decode"], med["h_decode"],
            med["h_decode"] / med["cpp_decode"], int8))


if __name__ == "__main__":
    main()
