#!/usr/bin/env python3
"""Our tokenizer against Hugging Face `tokenizers` as the oracle (ctest interop_tokenizer_oracle).

  tokenizer_oracle.py --check SP_TOKENIZER_CHECK --work DIR [--shared DIR] [--part built|gguf|all]

Two sets of tokenizer.json files, each encoded by `tokenizers` (encode(text, add_special_tokens=False))
on a corpus of English, code, digits, whitespace runs, CJK, emoji and every control character:

 (a) the llama.cpp vocabularies shipped in the llama-cpp-python source distribution on PyPI
     (vendor/llama.cpp/models/ggml-vocab-*.gguf), converted to tokenizer.json by transformers'
     GGUF tokenizer conversion (AutoTokenizer.from_pretrained(dir, gguf_file=...), or, where that
     refuses the file's model architecture, transformers' converter for its tokenizer type); those with
     llama.cpp's test vectors (.inp / .out) are also encoded on the vectors, and how many of
     llama.cpp's ids the conversion reproduces is reported (the conversion is not always faithful;
     the oracle is what HF does with the converted file). Vocabularies transformers cannot convert,
     and converted files of a model type we do not implement (Unigram), are listed and skipped.
 (b) files built here from the shared GPT-2 and LLaMA-2 vocabularies for the cases Hugging Face
     accepts and a strict reader might not: byte-level vocabularies missing some bytes (no unk,
     unk_token, byte_fallback, unk_token missing from the vocabulary, fuse_unk), added tokens that
     overlap the vocabulary (other ids in the file, gaps, duplicates, empty, normalized),
     ignore_merges, merges as ["a", "b"] pairs or "a b" strings, two pieces with one id,
     SentencePiece-style BPE without unk_token, and the SmolLM2 pipeline.

Every file HF loads must load in ours with equal ids on every case (and a text HF refuses to encode
must be refused): the C++ checker (tests/interop/tokenizer_check.cpp) decides. The sdist comes from
$SP_LLAMA_CPP_SDIST, else ~/.cache/struprune/, else `pip download` (pip's cache makes it quick).
Exit 77 (skip) without `tokenizers` / transformers / gguf or the shared vocabularies, unless
STRUPRUNE_REQUIRE_HF=1 (CI), where that is a failure.
"""
import argparse
import copy
import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import warnings

SDIST = "llama_cpp_python-0.3.36.tar.gz"
SDIST_REQ = "llama-cpp-python==0.3.36"

CORPUS = [
    "Hello world! This is a test of the tokenizer.", "The quick brown fox jumps over the lazy dog.",
    "I'm sure you've seen it; they'll go, we'd be. DON'T SHOUT", "  leading spaces", "trailing spaces   ",
    "multiple   spaces\tand\ttabs", "\n\n\n", "    \n\t  \r\n", " " * 17 + "x" + "\t" * 5, "line one\nline two\r\nend",
    "def f(x):\n    return x**2 + 1  # comment\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "if x != None and y >= 3.14159: print(f'{x!r}')", "#include <stdio.h>\nint main(void) { return 0; }\n",
    "1234567890", "3.14159 2,718 1e-10 -42 +7 0x1F", "Year 2024, page 12-15, ID 000123", "١٢٣ ٤٥٦ ⅣⅫ ½ ²³",
    "123456789012345678901234567890", "你好，世界！这是一个测试。", "日本語のテキストとカタカナ、ひらがな。", "한국어 텍스트 입니다",
    "😀 😃🎉👍🏽 family: 👨‍👩‍👧 flags 🇫🇷🇯🇵", "café naïve résumé façade Ångström", "Cafe\u0301 n\u0303 combining",
    "ﬁancé ﬂow Ⅻ ① ｆｕｌｌｗｉｄｔｈ", "Straße ǅungla İstanbul ΣΊΣΥΦΟΣ", "\u00a0nbsp\u2003em\u3000ideographic",
    "zero\u200bwidth\u200djoiner", "Ελληνικά и русский текст", "عربي עברית हिन्दी ไทย", "$100 + €20 = ¥?? ~^|\\",
    "__init__ self._x = -0.5e+3;", "'quoted' \"double\" `back` «guillemets»", "", " ", "a",
    "control: " + "".join(chr(c) for c in range(0, 32)) + "\x7f end",
    "bell\x07 backspace\x08 escape\x1b[31mred\x1b[0m eot\x04 nul\x00 del\x7f",
    "\x04\x04\x04 run of EOT\x04\x04 and digits 4\x0442", "mixed: abc123def 4five6 ...!!! ???",
    "<|endoftext|> in the middle <|endoftext|>", "<s>not special?</s> <unk> <pad>",
    "Hello HELLO hello hElLo", "tokenization tokenizer untokenizable",
]


def random_texts(n, seed=24):
    """Seeded random mixes of the corpus' kinds of chars (letters, digits, spaces, controls, CJK,
    emoji, combining marks, special-token spellings), 1 to 60 chars each."""
    import random
    rng = random.Random(seed)
    pools = ["abcXYZ", "0123456789", " \t\n\r", "".join(chr(c) for c in range(32)) + "\x7f", "你好世界日本語한국",
             "😀🎉👍🏽\u200d", "\u0301\u0303", ".,;:!?'\"()[]{}<>/\\|-_=+*&^%$#@~`", "éßİΣж", "<s></s><unk>"]
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 60))))
    return out


def log(*a):
    print(*a, flush=True)


def skip(msg):
    if os.environ.get("STRUPRUNE_REQUIRE_HF") == "1":
        log(f"FAIL: {msg} (STRUPRUNE_REQUIRE_HF=1)")
        sys.exit(1)
    log(f"SKIP: {msg}")
    sys.exit(77)


# ---------------------------------------------------------------------------------------------
# (b) tokenizer.json files built from the shared vocabularies

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


B2U = bytes_to_unicode()


def gpt2_json(shared, pre):
    from tokenizers import Tokenizer, decoders
    from tokenizers.models import BPE
    d = os.path.join(shared, "data/tokenizers/gpt2")
    t = Tokenizer(BPE.from_file(os.path.join(d, "encoder.json"), os.path.join(d, "vocab.bpe")))
    t.pre_tokenizer = pre
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens(["<|endoftext|>"])
    return json.loads(t.to_str())


def drop_bytes(j, dropped):
    """Removes the pieces of `dropped` bytes, and every piece and merge that spells one of them."""
    gone = {B2U[b] for b in dropped}
    m = j["model"]
    m["vocab"] = {p: i for p, i in m["vocab"].items() if not any(ch in gone for ch in p)}
    m["merges"] = [mg for mg in m["merges"] if not any(ch in gone for ch in "".join(mg))]
    return j


def add_piece(j, piece):
    v = j["model"]["vocab"]
    if piece not in v:
        v[piece] = max(v.values()) + 1
    return v[piece]


def added(content, id_, special=True, normalized=False, **kw):
    a = {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": normalized, "special": special}
    a.update(kw)
    return a


def built_files(shared):
    """name -> tokenizer.json content (a dict)."""
    from tokenizers import pre_tokenizers
    smol_pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    base = gpt2_json(shared, smol_pre)
    # SmolLM2's vocabulary lacks some control bytes (0x04 among them); these are dropped here.
    lacking = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0E, 0x0F, 0x10, 0x11, 0x1B, 0x7F]
    f = {}
    f["smollm2_missing_bytes"] = drop_bytes(copy.deepcopy(base), lacking)
    j = drop_bytes(copy.deepcopy(base), lacking)
    j["model"]["unk_token"] = "<unk>"
    add_piece(j, "<unk>")
    f["missing_bytes_unk"] = j
    j = copy.deepcopy(f["missing_bytes_unk"])
    j["model"]["fuse_unk"] = True
    f["missing_bytes_unk_fused"] = j
    j = drop_bytes(copy.deepcopy(base), lacking)
    j["model"]["unk_token"] = "<unk>"  # named, not in the vocabulary: HF loads, fails on such a byte
    f["missing_bytes_unk_not_in_vocab"] = j
    # Byte fallback sees the char a byte maps to (U+0100.. here, UTF-8 C4 80..): some bytes get
    # their fallback pieces (<0xC4> and the second byte present), others not (then unk or nothing).
    for unk in (False, True):
        j = drop_bytes(copy.deepcopy(base), lacking)
        j["model"]["byte_fallback"] = True
        for b in ["<0xC4>", "<0x80>", "<0x81>", "<0x84>", "<0x8F>"]:
            add_piece(j, b)
        if unk:
            j["model"]["unk_token"] = "<unk>"
            add_piece(j, "<unk>")
        f["missing_bytes_byte_fallback" + ("_unk" if unk else "")] = j
    # Added tokens overlapping the vocabulary: a piece's spelling with another id in the file, an
    # id past a gap, an id of a vocabulary piece, a duplicate with other flags, an empty one, a
    # normalized one (matched as the normalizer writes it), lstrip / rstrip / single_word.
    j = copy.deepcopy(base)
    n = len(j["model"]["vocab"])
    j["normalizer"] = {"type": "Lowercase"}
    j["added_tokens"] = [
        added("<|endoftext|>", 50256), added("Hello", 99999, special=False), added("<pad>", n + 40),
        added("<s>", 17), added("</s>", n + 3, special=False, lstrip=True), added("<s>", 5, special=False, rstrip=True),
        added("", n + 7), added("HeLLo WoRLD", n + 8, special=False, normalized=True),
        added("token", n + 9, special=False, single_word=True), added("ization", 3, special=False),
        added("<unk>", n + 1, special=True, lstrip=True, rstrip=True),
    ]
    f["added_tokens_overlap"] = j
    # ignore_merges (LLaMA-3): whole-word pieces no merge builds; with and without the flag.
    from tokenizers import Regex
    llama3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")
    l3 = gpt2_json(shared, pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(llama3), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]))
    for w in ["Ġtokenization", "Ġuntokenizable", "Ġfox", "ĠHELLO", "Hello", "ä½łå¥½", "Ġ123"]:
        add_piece(l3, w)
    for im in (True, False):
        j = copy.deepcopy(l3)
        j["model"]["ignore_merges"] = im
        f["llama3_ignore_merges" if im else "llama3_merges_only"] = j
    # Merges as "a b" strings (older files) and as pairs, on the same vocabulary.
    j = copy.deepcopy(base)
    j["model"]["merges"] = [" ".join(mg) for mg in j["model"]["merges"]]
    f["merges_as_strings"] = j
    j = copy.deepcopy(base)
    j["model"]["merges"] = [list(mg) for mg in j["model"]["merges"]]
    f["merges_as_pairs"] = j
    # Two pieces with one id (HF's vocabulary is a map; the second spelling encodes to that id).
    j = copy.deepcopy(base)
    j["model"]["vocab"]["Ġtokenization"] = j["model"]["vocab"]["Ġtoken"]
    f["two_pieces_one_id"] = j
    # SentencePiece-style BPE (LLaMA-2) without unk_token and without byte fallback: chars without
    # a piece are dropped; with byte fallback but some <0xHH> pieces missing: unk or nothing.
    with open(os.path.join(shared, "data/tokenizers/llama2/tokenizer.json"), encoding="utf-8") as fh:
        ll = json.load(fh)
    j = copy.deepcopy(ll)
    j["model"]["unk_token"] = None
    j["model"]["byte_fallback"] = False
    f["spm_no_unk_no_fallback"] = j
    for unk in (None, "<unk>"):
        j = copy.deepcopy(ll)
        j["model"]["unk_token"] = unk
        gone = {f"<0x{b:02X}>" for b in range(0x80, 0xC0, 3)}
        j["model"]["vocab"] = {p: i for p, i in j["model"]["vocab"].items() if p not in gone}
        f["spm_partial_byte_fallback" + ("_unk" if unk else "")] = j
    return f


# Files HF refuses: reported, not required of us (we may be more lenient).
def refused_files(shared):
    from tokenizers import pre_tokenizers
    base = gpt2_json(shared, pre_tokenizers.ByteLevel(add_prefix_space=False))
    f = {}
    j = copy.deepcopy(base)
    j["model"]["merges"] = j["model"]["merges"][:10] + [["zzq", "qzz"]]
    f["merge_of_missing_pieces"] = j
    j = copy.deepcopy(base)
    j["model"]["merges"] = [" ".join(j["model"]["merges"][0])] + j["model"]["merges"][1:]
    f["merges_mixed_strings_and_pairs"] = j
    return f


# ---------------------------------------------------------------------------------------------
# (a) llama.cpp's vocabularies through transformers' GGUF conversion

def find_sdist(cache):
    env = os.environ.get("SP_LLAMA_CPP_SDIST")
    if env and os.path.exists(env):
        return env
    path = os.path.join(cache, SDIST)
    if os.path.exists(path):
        return path
    os.makedirs(cache, exist_ok=True)
    r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                        "--no-binary", ":all:", SDIST_REQ, "-d", cache], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(path):
        return None
    return path


def extract_vocabs(sdist, dest):
    marker = os.path.join(dest, ".done-" + os.path.basename(sdist))
    if os.path.exists(marker):
        return
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(sdist) as tf:
        for m in tf.getmembers():
            name = os.path.basename(m.name)
            if m.isfile() and "/vendor/llama.cpp/models/" in m.name and name.startswith("ggml-vocab-"):
                with tf.extractfile(m) as src, open(os.path.join(dest, name), "wb") as dst:
                    shutil.copyfileobj(src, dst)
    open(marker, "w").close()


def read_vectors(base):
    with open(base + ".inp", encoding="utf-8", newline="") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")[:-1]
    with open(base + ".out", encoding="utf-8", newline="") as f:
        outs = f.read().split("\n")
    return [(t, [int(x) for x in (outs[i].split() if i < len(outs) else [])]) for i, t in enumerate(texts)]


def convert_by_tokenizer_type(path):
    """transformers refuses some GGUF files for their model architecture although it has a builder
    for their tokenizer type (gpt2, llama, gemma4, ...): its own reader and builder, keyed by the
    tokenizer type. An internal API (transformers 5.x); None when it is absent."""
    try:
        from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer, get_gguf_tokenizer
    except ImportError:
        return None
    arch, tokenizer_dict, _ = get_gguf_tokenizer(path)
    tt = tokenizer_dict.get("tokenizer_type")
    tok, _ = convert_gguf_tokenizer({"gpt2": "gpt2", "llama": "llama"}.get(tt, arch), tokenizer_dict)
    return tok


def convert_gguf(vocab_dir, out_dir):
    """gguf name -> (tokenizer.json path or None, note). Converted files are kept across runs."""
    from transformers import AutoTokenizer
    res = {}
    for g in sorted(glob.glob(os.path.join(vocab_dir, "ggml-vocab-*.gguf"))):
        name = os.path.basename(g)[len("ggml-vocab-"):-len(".gguf")]
        out = os.path.join(out_dir, name + ".tokenizer.json")
        fail = out + ".failed"
        if os.path.exists(out):
            note = open(out + ".note").read() if os.path.exists(out + ".note") else "converted"
            res[name] = (out, note + " (cached)")
            continue
        if os.path.exists(fail):
            res[name] = (None, open(fail).read())
            continue
        t0 = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                tok = AutoTokenizer.from_pretrained(vocab_dir, gguf_file=os.path.basename(g))
                tok.backend_tokenizer.save(out)
                note = "AutoTokenizer(gguf_file=...)"
            except Exception as e:
                first = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
                try:
                    tok = convert_by_tokenizer_type(g)
                except Exception as e2:  # the conversion's own refusal: listed, not ours to test
                    tok, first = None, f"{first}; by tokenizer type: {type(e2).__name__}: {str(e2).splitlines()[0][:120]}"
                if tok is None:
                    with open(fail, "w") as fh:
                        fh.write(f"transformers cannot convert it: {first}")
                    res[name] = (None, open(fail).read())
                    continue
                tok.save(out)
                note = f"by tokenizer type (AutoTokenizer refused: {first})"
        with open(out + ".note", "w") as fh:
            fh.write(note)
        res[name] = (out, f"{note}, {time.time() - t0:.0f} s")
    return res


# ---------------------------------------------------------------------------------------------

def hf_cases(name, path, texts, Tokenizer):
    """Loads `path` with tokenizers; returns the cases (ids, or the error HF raised) or None if HF refuses."""
    try:
        t = Tokenizer.from_file(path)
    except Exception as e:
        return None, str(e)
    cases = []
    for text in texts:
        try:
            cases.append({"tokenizer": name, "text": text, "ids": t.encode(text, add_special_tokens=False).ids})
        except Exception as e:
            cases.append({"tokenizer": name, "text": text, "error": str(e)})
    return cases, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", required=True, help="the sp_tokenizer_check binary")
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared", default="")
    ap.add_argument("--cache", default=os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                                                    "struprune"))
    ap.add_argument("--part", choices=("built", "gguf", "all"), default="all",
                    help="built: the files built here (b); gguf: llama.cpp's vocabularies (a)")
    args = ap.parse_args()
    try:
        from tokenizers import Tokenizer
    except ImportError:
        skip("python lacks the `tokenizers` package")
    shared = os.environ.get("STRUPRUNE_SHARED_DIR") or args.shared
    if not os.path.exists(os.path.join(shared, "data/tokenizers/gpt2/encoder.json")):
        skip(f"{shared}/data/tokenizers not found")
    os.makedirs(args.work, exist_ok=True)
    corpus = list(CORPUS)
    wiki = os.path.join(shared, "data/wikitext-2-raw/wiki.test.raw")
    if os.path.exists(wiki):
        with open(wiki, encoding="utf-8") as f:
            corpus += [line for line in f.read().split("\n") if line.strip()][:30]
    corpus += random_texts(25)

    listing, cases, summary = [], [], {"built": [], "refused_by_hf": [], "gguf": []}
    # (b)
    built_dir = os.path.join(args.work, "built")
    os.makedirs(built_dir, exist_ok=True)
    for name, j in (built_files(shared) if args.part != "gguf" else {}).items():
        path = os.path.join(built_dir, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False)
        got, err = hf_cases(name, path, corpus, Tokenizer)
        if got is None:
            log(f"FAIL: Hugging Face refuses the built file {name}: {err}")
            sys.exit(1)
        listing.append({"name": name, "file": path})
        cases += got
        summary["built"].append({"name": name, "cases": len(got), "hf_errors": sum("error" in c for c in got)})
    for name, j in (refused_files(shared) if args.part != "gguf" else {}).items():
        path = os.path.join(built_dir, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False)
        got, err = hf_cases(name, path, [], Tokenizer)
        summary["refused_by_hf"].append({"name": name, "hf_loads": got is not None, "hf_error": err})

    # (a)
    if args.part != "built":
        try:
            import gguf  # noqa: F401  (transformers' GGUF reader)
            import transformers  # noqa: F401
        except ImportError:
            skip("python lacks transformers / gguf (the GGUF tokenizer conversion)")
        sdist = find_sdist(args.cache)
        if sdist is None:
            skip(f"no {SDIST}: set SP_LLAMA_CPP_SDIST, or let pip download it")
        vocab_dir = os.path.join(args.cache, "llama-cpp-vocabs")
        extract_vocabs(sdist, vocab_dir)
        conv_dir = os.path.join(args.cache, "llama-cpp-vocabs-converted-tf" + transformers.__version__)
        os.makedirs(conv_dir, exist_ok=True)
        for name, (path, note) in convert_gguf(vocab_dir, conv_dir).items():
            entry = {"name": "gguf-" + name, "note": note}
            summary["gguf"].append(entry)
            log(f"gguf {name}: {note}")
            if path is None:
                continue
            with open(path, encoding="utf-8") as fh:
                model_type = json.load(fh)["model"].get("type")
            if model_type != "BPE":
                entry["note"] += f"; model type {model_type}: not implemented (refused by name)"
                log(f"gguf {name}: model type {model_type}, which we do not implement: not checked")
                continue
            base = os.path.join(vocab_dir, f"ggml-vocab-{name}.gguf")
            vectors = read_vectors(base) if os.path.exists(base + ".inp") else []
            got, err = hf_cases("gguf-" + name, path, [t for t, _ in vectors] + corpus, Tokenizer)
            if got is None:
                entry["note"] += f"; HF cannot load the converted file: {err}"
                continue
            listing.append({"name": "gguf-" + name, "file": path})
            cases += got
            entry["cases"] = len(got)
            entry["vectors"] = len(vectors)
            entry["hf_equals_llama_cpp"] = sum(c.get("ids") == ids for c, (_, ids) in zip(got, vectors))

    out = os.path.join(args.work, "cases.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"tokenizers": listing, "cases": cases}, f, ensure_ascii=False)
    with open(os.path.join(args.work, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, ensure_ascii=False, indent=1)
    for s in summary["gguf"]:
        if "vectors" in s:
            log(f"  {s['name']}: HF on the converted file equals llama.cpp's ids on "
                f"{s['hf_equals_llama_cpp']}/{s['vectors']} vectors")
    for s in summary["refused_by_hf"]:
        log(f"  HF refuses {s['name']}: {s['hf_error']}")
    r = subprocess.run([args.check, out])
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
