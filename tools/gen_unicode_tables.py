#!/usr/bin/env python3
"""Generate the Unicode tables of the byte-level BPE tokenizer (in rwkv.h).

Reads the Unicode Character Database as Debian ships it (`apt-get install
unicode-data`: /usr/share/unicode, Unicode 15.0.0 in Debian 12) and writes
three compact C tables between the markers

    /* BEGIN GENERATED UNICODE TABLES */ ... /* END GENERATED UNICODE TABLES */

of the target file (or prints them with --print):

  rwkv__bpe_cls_table[]
                      ranges `start << 3 | flags` covering U+0000..U+10FFFF,
                      sorted; a code point takes the entry with the largest
                      start <= it. flags & 3: 0 other, 1 letter (\\p{L}: Lu Ll
                      Lt Lm Lo), 2 number (\\p{N}: Nd Nl No), 3 white space
                      (Oniguruma's Unicode \\s: U+0009..U+000D, U+0085, Zs,
                      Zl, Zp; the same set as the White_Space property).
                      flags & 4: "NFC-unsafe": canonical combining class != 0
                      or NFC_Quick_Check != Yes (in the NFC data below); text
                      without such code points is already NFC.
  rwkv__bpe_ccc_table[]
                      ranges `start << 8 | ccc` of the canonical combining
                      class, covering everything, sorted.
  rwkv__bpe_decomp_table[]
                      triples {cp, first, second | excluded << 21}: the
                      canonical decomposition mapping of cp, one level deep
                      (second = 0 for a singleton), sorted by cp; `excluded`
                      marks the other Full_Composition_Exclusion pairs
                      (never recomposed; singletons never are either).
                      Hangul syllables are algorithmic and not listed.

The pre-tokenizer classes use the whole of the UCD given. The NFC data can be
limited to the characters assigned up to an older version (--nfc-version,
from DerivedAge.txt): Hugging Face tokenizers normalizes with the crate
unicode-normalization-alignments 0.1.12, whose tables are Unicode 9.0, so a
later combining mark has class 0 there and a later composite never composes.
Matching that is what makes the tokenizer exact against Hugging Face.

Self-checks: \s must equal White_Space (PropList.txt); with --nfc-version ''
(the full data) the exclusions and NFC_Quick_Check computed here must equal
DerivedNormalizationProps.txt, and no character decomposes into more than 4.

Usage:
    python3 tools/gen_unicode_tables.py [--ucd /usr/share/unicode]
        [--nfc-version 9.0] (--update rwkv.h | --print)
"""
import argparse
import os
import re
import sys

MAX_CP = 0x10FFFF


def read_unicode_data(ucd):
    """code point -> (general category, ccc, decomposition field)"""
    out = {}
    first = None
    with open(os.path.join(ucd, "UnicodeData.txt"), encoding="utf-8") as f:
        for line in f:
            p = line.rstrip("\n").split(";")
            cp = int(p[0], 16)
            name, gc, ccc, dec = p[1], p[2], int(p[3]), p[5]
            if name.endswith(", First>"):
                first = cp
                continue
            if name.endswith(", Last>"):
                for c in range(first, cp + 1):
                    out[c] = (gc, ccc, "")
                continue
            out[cp] = (gc, ccc, dec)
    return out


def read_ranges(path):
    """Lines `XXXX(..YYYY)? ; value # comment` -> list of (lo, hi, value)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [x.strip() for x in line.split(";")]
            r = fields[0].split("..")
            lo = int(r[0], 16)
            hi = int(r[1], 16) if len(r) > 1 else lo
            rows.append((lo, hi, fields[1] if len(fields) > 1 else None))
    return rows


def ucd_version(ucd):
    with open(os.path.join(ucd, "DerivedAge.txt"), encoding="utf-8") as f:
        m = re.search(r"DerivedAge-([0-9.]+)\.txt", f.readline())
    return m.group(1) if m else "unknown"


def version_key(v):
    return tuple(int(x) for x in v.split("."))


def build(ucd, nfc_version):
    ud = read_unicode_data(ucd)
    age = {}
    for lo, hi, v in read_ranges(os.path.join(ucd, "DerivedAge.txt")):
        for c in range(lo, hi + 1):
            age[c] = version_key(v)
    limit = version_key(nfc_version) if nfc_version else (999,)

    def in_nfc(c):
        return c in age and age[c] <= limit

    # ---- pre-tokenizer classes
    cls = [0] * (MAX_CP + 1)
    for c, (gc, _, _) in ud.items():
        if gc[0] == "L":
            cls[c] = 1
        elif gc[0] == "N":
            cls[c] = 2
        elif gc in ("Zs", "Zl", "Zp"):
            cls[c] = 3
    for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85):
        cls[c] = 3
    # cross-check against the White_Space property
    ws = set()
    for lo, hi, v in read_ranges(os.path.join(ucd, "PropList.txt")):
        if v == "White_Space":
            ws.update(range(lo, hi + 1))
    assert ws == {c for c in range(MAX_CP + 1) if cls[c] == 3}, "\\s != White_Space"

    # ---- NFC data, limited to characters of the chosen version
    ccc = {c: v[1] for c, v in ud.items() if v[1] and in_nfc(c)}
    decomp = {}
    for c, (_, _, d) in ud.items():
        if d and not d.startswith("<") and in_nfc(c):
            parts = [int(x, 16) for x in d.split()]
            assert 1 <= len(parts) <= 2 and all(in_nfc(p) for p in parts)
            decomp[c] = parts
    excluded = set()
    for lo, hi, _ in read_ranges(os.path.join(ucd, "CompositionExclusions.txt")):
        excluded.update(c for c in range(lo, hi + 1) if in_nfc(c))
    for c, parts in decomp.items():
        if len(parts) == 1:
            excluded.add(c)  # singleton
        elif ccc.get(c, 0) or ccc.get(parts[0], 0):
            excluded.add(c)  # non-starter decomposition
    if not nfc_version:  # the full data must agree with the UCD's own property
        fce = set()
        for lo, hi, v in read_ranges(os.path.join(ucd, "DerivedNormalizationProps.txt")):
            if v == "Full_Composition_Exclusion":
                fce.update(range(lo, hi + 1))
        assert fce == excluded, "Full_Composition_Exclusion mismatch"

    def full_decomposition(c):
        out, stack = [], [c]
        while stack:
            x = stack.pop()
            if x in decomp:
                stack.extend(reversed(decomp[x]))
            else:
                out.append(x)
        return out

    # NFC_Quick_Check: No for excluded characters, Maybe for the second
    # character of a primary composite (and Hangul V and T jamo)
    qc_no = set(excluded)
    qc_maybe = set()
    for c, parts in decomp.items():
        if len(parts) == 2 and c not in excluded:
            qc_maybe.add(parts[1])
    qc_maybe.update(range(0x1161, 0x1176))
    qc_maybe.update(range(0x11A8, 0x11C3))
    if not nfc_version:
        no, maybe = set(), set()
        with open(os.path.join(ucd, "DerivedNormalizationProps.txt"), encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                fields = [x.strip() for x in line.split(";")]
                if fields[1] == "NFC_QC":
                    r = fields[0].split("..")
                    lo = int(r[0], 16)
                    hi = int(r[1], 16) if len(r) > 1 else lo
                    (no if fields[2] == "N" else maybe).update(range(lo, hi + 1))
        assert no == qc_no and maybe == qc_maybe, "NFC_QC mismatch"
    max_full = max(len(full_decomposition(c)) for c in decomp)
    assert max_full <= 4, max_full

    flags = [0] * (MAX_CP + 1)
    for c in range(MAX_CP + 1):
        flags[c] = cls[c]
    for c in ccc:
        flags[c] |= 4
    for c in qc_no | qc_maybe:
        flags[c] |= 4

    def ranges(values, shift):
        out = []
        prev = None
        for c in range(MAX_CP + 1):
            if 0xD800 <= c < 0xE000:  # surrogates never occur in UTF-8 text
                v = prev
            else:
                v = values[c]
            if v != prev:
                out.append((c << shift) | v)
                prev = v
        return out

    cls_table = ranges(flags, 3)
    ccc_values = [0] * (MAX_CP + 1)
    for c, v in ccc.items():
        ccc_values[c] = v
    ccc_table = ranges(ccc_values, 8)
    decomp_table = []
    for c in sorted(decomp):
        parts = decomp[c]
        decomp_table.append(c)
        decomp_table.append(parts[0])
        if len(parts) == 1:
            decomp_table.append(0)  # a singleton: excluded by definition
        else:
            decomp_table.append(parts[1] | ((1 << 21) if c in excluded else 0))
    stats = {
        "classes": len(cls_table), "ccc": len(ccc_table), "decomp": len(decomp),
        "compositions": sum(1 for c, p in decomp.items() if len(p) == 2 and c not in excluded),
    }
    return cls_table, ccc_table, decomp_table, stats


def c_array(name, values, per_line):
    lines = ["static const uint32_t %s[%d] = {" % (name, len(values))]
    for i in range(0, len(values), per_line):
        lines.append("    " + ",".join("%d" % v for v in values[i:i + per_line]) + ",")
    lines.append("};")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ucd", default="/usr/share/unicode")
    ap.add_argument("--nfc-version", default="9.0",
                    help="limit the NFC data to characters of this Unicode version "
                         "('' for all); 9.0 matches Hugging Face tokenizers")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--update", metavar="FILE")
    group.add_argument("--print", action="store_true")
    args = ap.parse_args()

    version = ucd_version(args.ucd)
    cls_table, ccc_table, decomp_table, stats = build(args.ucd, args.nfc_version)
    text = "\n".join([
        "/* BEGIN GENERATED UNICODE TABLES */",
        "/* Generated by tools/gen_unicode_tables.py from the Unicode Character",
        "   Database %s (Debian unicode-data); NFC data limited to Unicode %s."
        % (version, args.nfc_version or version),
        "   %d class ranges, %d combining-class ranges, %d decompositions (%d compose)."
        % (stats["classes"], stats["ccc"], stats["decomp"], stats["compositions"]),
        "   Do not edit by hand: run the tool again. */",
        "#define RWKV__BPE_UNICODE_VERSION \"%s\"" % version,
        "#define RWKV__BPE_NFC_UNICODE_VERSION \"%s\"" % (args.nfc_version or version),
        c_array("rwkv__bpe_cls_table", cls_table, 10),
        c_array("rwkv__bpe_ccc_table", ccc_table, 10),
        c_array("rwkv__bpe_decomp_table", decomp_table, 12),
        "/* END GENERATED UNICODE TABLES */",
    ])
    if args.print:
        print(text)
        return
    with open(args.update, encoding="utf-8") as f:
        src = f.read()
    begin = src.index("/* BEGIN GENERATED UNICODE TABLES */")
    end = src.index("/* END GENERATED UNICODE TABLES */") + len("/* END GENERATED UNICODE TABLES */")
    with open(args.update, "w", encoding="utf-8") as f:
        f.write(src[:begin] + text + src[end:])
    print("%s: %s" % (args.update, ", ".join("%s %d" % kv for kv in stats.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
