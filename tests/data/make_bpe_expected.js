#!/usr/bin/env node
/* Generate tests/data/bpe_expected.txt: GPT-NeoX-20B byte-level BPE ids from
 * Hugging Face tokenizers (the npm package `tokenizers`, its Rust library
 * through napi), which is NOT part of this repository.
 *
 * Usage (the package is installed outside the repo):
 *     cd /work/scratch/bpe && npm install tokenizers     # 0.23.2 was used
 *     NODE_PATH=/work/scratch/bpe/node_modules node tests/data/make_bpe_expected.js \
 *         ../shared/data/vocab/20B_tokenizer.json \
 *         ../shared/data/corpus/tinyshakespeare.txt > tests/data/bpe_expected.txt
 *
 * Output format (read by tests/test_bpe_conformance.c): lines starting with
 * '#' are comments; each case is three lines,
 *     T <text as lower-case hex bytes, nothing for the empty text>
 *     I <token ids from encode(text) separated by spaces>
 *     D <decode(ids, skip_special_tokens = false) as hex bytes, or = when it
 *        is the text itself>
 * The random cases come from a fixed seed, so the file is reproducible.
 */
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

const [jsonPath, corpusPath] = process.argv.slice(2);
if (!jsonPath || !corpusPath) {
  console.error('usage: make_bpe_expected.js 20B_tokenizer.json tinyshakespeare.txt');
  process.exit(2);
}
const tok = Tokenizer.fromFile(jsonPath);
const version = require('tokenizers/package.json').version;
const corpus = fs.readFileSync(corpusPath, 'utf8');

const S = (...cps) => String.fromCodePoint(...cps);
const cases = [];
const add = (s) => cases.push(s);

/* ---- hand-written cases ---- */
add('');
add('Hello world');
add('Hello, world! How are you today?');
add('The quick brown fox jumps over the lazy dog.');
add('It was the best of times, it was the worst of times, it was the age of wisdom...');
add(' leading space');
add('  two leading spaces');
add('trailing space ');
add('trailing spaces   ');
add('a b  c   d    e     f      g       h        i');
for (let n = 1; n <= 30; n++) add('x' + ' '.repeat(n) + 'y');
for (let n = 1; n <= 30; n++) add(' '.repeat(n));
add(' '.repeat(100));
add('x' + ' '.repeat(50) + 'y');
add('\t');
add('\t\t\tindented with tabs');
add('a\tb\t\tc');
add('\n');
add('\n\n\n');
add('line one\nline two\n\nline four\n');
add('crlf line\r\nnext line\r\n\r\n');
add('\r');
add('mixed \t\n \t\n  whitespace  \n\t end');
add('  \n  ');
add(' \n');
add('word \nword');
add('word  \n  word');
add('\u00a0nbsp\u00a0\u00a0here');
add('ideographic\u3000space\u3000\u3000x');
add('en\u2002space em\u2003space thin\u2009space');
add('line\u2028separator\u2029para');
add('next\u0085line');
add('mongolian\u180evowel separator');
add('zero\u200bwidth\u200cnon\u200djoiner');
add('\u000b\u000c vertical tab and form feed');
add('\u0000\u0001\u0002 controls \u007f\u001f');
add("I'm here, you're there, he's, she'd, we've, they'll, it't");
add("I'M HERE, YOU'RE THERE, HE'S, SHE'D, WE'VE, THEY'LL, IT'T");
add("don't can't won't shouldn't");
add("DON'T CAN'T WON'T");
add("'s 't 're 've 'm 'll 'd");
add("'S 'T 'RE 'VE 'M 'LL 'D");
add("'x 'sx 'tt 'ree 'lll '");
add("''s '''t ' s");
add("rock 'n' roll, 'quoted', \"double\", `back`");
add("it's 's's''s");
add("o'clock O'Neil rock'n'roll");
add('numbers 0 1 12 123 1234 12345 123456 1234567 3.14159 -42 +7 1e10 0x1F');
add('1,000,000 and 2024-01-01 at 12:34:56');
add('Phone: +1 (555) 123-4567');
add('\u00bd \u00bc \u00be \u2153 \u00b2 \u00b3 \u00b9 \u2070');
add('\u0661\u0662\u0663 \u0967\u0968\u0969 \u2160\u2161\u2162 \u216b');
add('x1 1x a1b2c3 1a2b3c');
add('$100 \u20ac50 \u00a330 \u00a5200 \u20b9 \u20bf');
add('!!! ??? ... --- *** ### @@@ ^^^ ~~~ ___ |||');
add('?! !? ... .. . , ; : ( ) [ ] { } < > / \\ | - _ = + * & ^ % $ # @ ! ~ `');
add('"quoted" (parens) [brackets] {braces} <angles>');
add('a.b,c;d:e!f?g');
add('...and then...');
add('end.');
add('\u2014 em dash \u2013 en dash \u2026 ellipsis \u00ab guillemets \u00bb \u201cquotes\u201d \u2018single\u2019');
add('C++ and C# and F#; e-mail: someone@example.com; https://example.com/path?q=1&r=2#frag');
add('int main(void) {\n    printf("hello, world\\n");\n    return 0;\n}\n');
add('def f(x):\n    """Docstring."""\n    if x > 0:\n        return x ** 2\n    return -x\n');
add('for (let i = 0; i < 10; i++) { console.log(i); }');
add('{"key": "value", "list": [1, 2, 3], "nested": {"a": null, "b": true}}');
add('<html><body><p class="x">Hi &amp; bye</p></body></html>');
add('SELECT * FROM users WHERE id = 42 AND name LIKE \'%bob%\';');
add('#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\n');
add('    def method(self):\n        pass\n\n\n    @property\n');
add('x = [i**2 for i in range(10) if i % 2 == 0]  # squares');
add('$ ls -la | grep "\\.txt$" > out.txt 2>&1');
add('\u4f60\u597d\uff0c\u4e16\u754c\uff01\u6211\u4eec\u4eca\u5929\u5b66\u4e60\u81ea\u7136\u8bed\u8a00\u5904\u7406\u3002');
add('\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca\u3001\u3072\u3089\u304c\u306a\u3002');
add('\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4.');
add('\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0644\u063a\u0629 \u062c\u0645\u064a\u0644\u0629 \u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627');
add('\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd \u05e2\u05d5\u05dc\u05dd');
add('\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442, \u0451\u0436\u0438\u043a \u0439\u043e\u0433\u0443\u0440\u0442.');
add('\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac: \u03ac\u03ad\u03ae\u03af\u03cc\u03cd\u03ce \u0390 \u03b0');
add('\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e \u0915\u094d\u0937 \u0924\u094d\u0930');
add('\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35');
add('Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u');
add('na\u00efve caf\u00e9 r\u00e9sum\u00e9 se\u00f1or \u00fcber Stra\u00dfe \u0153uvre');
add('\ud83d\ude00 \ud83d\ude02\ud83d\ude02 \ud83d\udc4d\ud83c\udffd \ud83d\udc69\u200d\ud83d\udcbb \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66');
add('\ud83c\uddfa\ud83c\uddf8\ud83c\uddef\ud83c\uddf5 \u2764\ufe0f \u263a\ufe0e \u0031\ufe0f\u20e3 \ud83c\udff3\ufe0f\u200d\ud83c\udf08');
add('\ud83d\udc4b\ud83c\udffb\ud83d\udc4b\ud83c\udffc\ud83d\udc4b\ud83c\udffd\ud83d\udc4b\ud83c\udffe\ud83d\udc4b\ud83c\udfff');
add('emoji\ud83d\ude00inside\ud83d\ude00words');
add('\ud834\udd1e musical \ud835\udc00\ud835\udc01 math bold \ud800\udf00 old italic');
/* combining marks and NFC */
add('e\u0301 vs \u00e9');
add('cafe\u0301 re\u0301sume\u0301');
add('a\u0301\u0323 a\u0323\u0301 a\u0323\u0302 \u1ea1\u0302');
add('o\u0308\u0304 u\u0308\u0301 A\u030a \u212b \u2126 \u212a');
add('\u1100\u1161\u11a8 \u1100\u1161 \uac00\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af');
add('\uf900\uf901 \u{2f800} \u0344 \u0958 \u0340\u0341 \u0374 \u037e \u0387');
add('x\u0301\u0301\u0301\u0301\u0301\u0301');
add('\u0301leading mark');
add(' \u0301 space then mark');
add('a\u0316\u0301\u0300\u0317\u0302 z\u05b0\u05b1\u05b4\u0591');
add('\u0915\u093c \u0921\u093c \u0928\u093c \u09a1\u09bc \u0b21\u0b3c');
add('\u0ddd \u0dd9\u0dcf\u0dca \u0b4b \u0b47\u0b3e \u0bca \u0bc6\u0bbe');
add('\u1b06 \u1b05\u1b35 \u{110ab} \u{11099}\u{110ba} \u{11131}\u{11127}');
add('new marks \u0898 \u1df6 \u1dfa \u1ac0 \u08d3 \u0c3c \ua82c y\u0898\u0301');
add('\u{11935}\u{11930} dives akuru (a Unicode 13 composition HF lacks)');
add('\u0041\u030a\u0301 \u00c5\u0301 \u01fa');
add('\u0065\u0338\u0301 \u2260 =\u0338 <\u0338');
add('\u00f1\u0303 n\u0303\u0303');
add('\u0627\u0653 \u0627\u0654 \u0648\u0654 \u064a\u0654');
add('\u0cbf\u0cd5 \u0cc6\u0cd5 \u0cc6\u0cc2 \u0cca\u0cd5');
/* special tokens in text */
add('<|endoftext|>');
add('<|padding|>');
add('<|endoftext|><|endoftext|>');
add('Hello<|endoftext|>world');
add('Hello <|endoftext|> world');
add('end of doc.<|endoftext|>Start of next doc.');
add('<|endoftext|> leading special');
add('trailing special <|endoftext|>');
add('<|endoftext|<|endoftext|>|>');
add('<|endoftext| <|endoftext <|padding|><|');
add('<|ENDOFTEXT|> <|EndOfText|>');
add('x<|padding|>y<|endoftext|>z');
add('  <|endoftext|>  ');
add('<|endoftext|>\u0301 mark after special');
add('e<|endoftext|>\u0301');
add('a     <|endoftext|>     b');
add('\n\n<|endoftext|>\n\n');
/* mixed scripts and odd sequences */
add('abc\u0434\u0435\u0444\u03b1\u03b2\u03b3\u4e00\u4e8c\u4e09123');
add('A1\u00e9\u00e92\u0661\u0662\u0663x');
add('hello\u00a0world \u00a0 x');
add('tab\t\tthen  spaces\t \t');
add('   \t   leading mixed');
add('a\r\n\r\n\r\nb');
add('\u00ad soft hyphen, \u2010 hyphen, \u2011 nb-hyphen');
add('\ufeffBOM at start');
add('\ufffd replacement \uffff nonchar \ue000 private');
add('\u{10ffff} \u{e0001}\u{e0041} tags');
add('x'.repeat(300));
add('ab'.repeat(150));
add('1234567890'.repeat(20));
add('!@#$%^&*()'.repeat(20));
add('\ud83d\ude00'.repeat(40));
add('\u0301'.repeat(40));
add('a' + '\u0301\u0316'.repeat(30));
add('The year 1984. The year 2001: a space odyssey. 42 is the answer; 3.14 is pi.');
add('HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n');
add('    ');
add('   x');
add('x   ');
add(' x ');

/* ---- random strings from a pool of tricky pieces (fixed seed) ---- */
let seed = 20240607;
function rnd(n) { /* xorshift32 */
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}
const pool = [
  'a', 'b', 'Z', 'the', 'Hello', 'ing', ' ', ' ', '  ', '\t', '\n', '\r\n', "'", "'s", "'ll", "'S", '"',
  '.', ',', '!', '?', '-', '_', '(', ')', '0', '7', '42', '3.14', '\u00e9', 'e\u0301', '\u0301', '\u0323',
  '\u4e2d', '\u6587', '\u3042', '\ud55c', '\u1100', '\u1161', '\u11a8', '\u0434', '\u03b1', '\u0645',
  '\u05d0', '\u05b8', '\u0915', '\u093c', '\ud83d\ude00', '\ud83d\udc4d', '\ud83c\udffd', '\u200d', '\ufe0f',
  '\u00a0', '\u3000', '\u2028', '\u0085', '\u00bd', '\u0661', '\u2126', '\uf900', '<|endoftext|>', '<|',
  '|>', 'endoftext', '<|padding|>', '\u0000', '\u007f', '$', '\u20ac', '\u2014', '\u2019',
];
for (let k = 0; k < 400; k++) {
  const n = 1 + rnd(24);
  let s = '';
  for (let i = 0; i < n; i++) s += pool[rnd(pool.length)];
  add(s);
}

/* ---- a long document: 20 KB of Shakespeare, and a few other slices ---- */
add(corpus.slice(0, 20000));
for (let k = 0; k < 10; k++) {
  const start = rnd(corpus.length - 2000);
  add(corpus.slice(start, start + 200 + rnd(1500)));
}

(async () => {
  const out = [];
  out.push('# GPT-NeoX-20B byte-level BPE (20B_tokenizer.json): ids from Hugging Face tokenizers');
  out.push(`# (npm package tokenizers ${version}), encode(text) and decode(ids, false).`);
  out.push('# Generated by tests/data/make_bpe_expected.js; do not edit.');
  for (const s of cases) {
    const enc = await tok.encode(s);
    const ids = enc.getIds();
    const dec = await tok.decode(ids, false);
    out.push('T ' + Buffer.from(s, 'utf8').toString('hex'));
    out.push('I ' + ids.join(' '));
    out.push('D ' + (dec === s ? '=' : Buffer.from(dec, 'utf8').toString('hex')));
  }
  process.stdout.write(out.join('\n') + '\n');
  console.error(`${cases.length} cases, tokenizers ${version}`);
})();
