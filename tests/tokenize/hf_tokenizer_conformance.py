#!/usr/bin/env python3
"""Builds tokenizer.json files for the pipelines of popular Hub tokenizers with Hugging Face's
`tokenizers` library and records what that library does with a corpus, for
test_tokenizer_conformance.cpp to compare against our tokenizer.

usage: hf_tokenizer_conformance.py SHARED_DIR OUT_DIR
Writes OUT_DIR/<pipeline>.json (the tokenizer.json) and OUT_DIR/cases.json:
  {"pipelines": [{"name", "file"}], "cases": [{"pipeline", "text", "ids", "round_trip",
   "ids_special", "decoded"}]}
Exit status 77 when `tokenizers` is not installed (the test skips).

Pipelines follow the normalizer / pre-tokenizer / post-processor / decoder of each family's
published tokenizer.json (as transformers' conversion code writes them), over the shared GPT-2
byte-level vocabulary or the shared LLaMA-2 byte-fallback vocabulary; further pipelines cover the
remaining components (every Split behaviour, invert, NFKC / NFKD / NFD, Lowercase, Strip,
Punctuation, Whitespace, WhitespaceSplit, Metaspace schemes, ByteLevel prefix space).
"""
import json
import os
import sys

try:
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE
except ImportError:
    sys.exit(77)

# Published split patterns.
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
          r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
         r"\s*[\r\n]+|\s+(?!\S)|\s+")
DEEPSEEK3 = (r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|"
             r" ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
CJK = "[一-龥\u3040-ゟ゠-ヿ]+"

CORPUS = [
    "Hello world! This is a test.", "  leading spaces", "trailing spaces   ", "multiple   spaces\tand\ttabs",
    "line one\nline two\r\nline three\n\n\nend", "I'm sure you've seen it; they'll go, we'd be.",
    "THE QUICK BROWN FOX Jumps Over", "def f(x):\n    return x**2 + 1  # comment\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }", "if x != None and y >= 3.14159: print(f'{x!r}')",
    "1234567890", "3.14159 2,718 1e-10 -42 +7", "Year 2024, page 12-15, ID 000123", "١٢٣ ٤٥٦ ⅣⅫ ½ ²³",
    "你好，世界！这是一个测试。", "日本語のテキストとカタカナ、ひらがな。", "한국어 텍스트 입니다", "😀 😃🎉👍🏽 family: 👨‍👩‍👧",
    "café naïve résumé façade Ångström", "Cafe\u0301 with combining accent, n\u0303", "ﬁancé ﬂow Ⅻ ① ｆｕｌｌｗｉｄｔｈ",
    "Straße ǅungla İstanbul ΣΊΣΥΦΟΣ", "\u00a0non\u00a0breaking\u2003em\u3000ideographic", "zero\u200bwidth\u200djoiner",
    "", " ", "\n", "   \n\t  ", "a", "<s>not special?</s>", "<|endoftext|> in the middle <|endoftext|>",
    "\ufffd replacement char \ufffd", "mixed: abc123def 4five6 ...!!! ???", "emails a.b@c.de, urls https://x.org/a?b=c",
    "tabs\t\t\tand\u000bvertical\u000cform feed", "Ελληνικά и русский текст", "عربي עברית हिन्दी ไทย",
    "__init__ self._x = -0.5e+3;", "'quoted' \"double\" `back` «guillemets» „low“", "$100 + €20 = ¥?? ~^|\\",
]

SPECIAL_TEXTS = ["<|endoftext|>", "<s>", "</s>", "<|begin_of_text|>", "<bos>", "<eos>"]


def corpus(shared):
    cases = list(CORPUS)
    wiki = os.path.join(shared, "data/wikitext-2-raw/wiki.test.raw")
    if os.path.exists(wiki):
        with open(wiki, encoding="utf-8") as f:
            lines = [l for l in f.read().split("\n") if l.strip()][:40]
        cases += lines
    return cases


def gpt2_model(shared):
    d = os.path.join(shared, "data/tokenizers/gpt2")
    return BPE.from_file(os.path.join(d, "encoder.json"), os.path.join(d, "vocab.bpe"))


def llama_tok(shared):
    return Tokenizer.from_file(os.path.join(shared, "data/tokenizers/llama2/tokenizer.json"))


def byte_level(shared, pre, normalizer=None, post=None, specials=("<|endoftext|>",), bos=None):
    t = Tokenizer(gpt2_model(shared))
    if normalizer is not None:
        t.normalizer = normalizer
    t.pre_tokenizer = pre
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens(list(specials))
    if bos is not None:
        bos_id = t.token_to_id(bos)
        tmpl = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                             special_tokens=[(bos, bos_id)])
        t.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=False), tmpl]) if post else tmpl
    elif post is not None:
        t.post_processor = post
    return t


def pipelines(shared):
    bl_noregex = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    p = {}
    # LLaMA-3 / 3.1 / 3.2: Split(pattern) + ByteLevel(no regex); BOS by template after ByteLevel.
    p["llama3"] = (byte_level(shared, pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False), bl_noregex]),
        post=True, specials=("<|begin_of_text|>", "<|end_of_text|>"), bos="<|begin_of_text|>"), True)
    # Qwen2 / 2.5: NFC, Split(pattern with single digits) + ByteLevel; ByteLevel post-processor, no BOS.
    p["qwen2"] = (byte_level(shared, pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2), behavior="isolated", invert=False), bl_noregex]),
        normalizer=normalizers.NFC(), post=processors.ByteLevel(trim_offsets=False),
        specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>")), False)
    # SmolLM2 / StarCoder: Digits(individual) + ByteLevel(with its regex).
    p["smollm2"] = (byte_level(shared, pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
        post=processors.ByteLevel(trim_offsets=False), specials=("<|endoftext|>", "<|im_start|>")), True)
    # GPT-NeoX / Pythia: NFC + ByteLevel(regex, no prefix space).
    p["gpt_neox"] = (byte_level(shared, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
                                normalizer=normalizers.NFC(), post=processors.ByteLevel(trim_offsets=False)), False)
    # DeepSeek-V3 / R1: digits in threes, CJK runs, the letter/punct pattern, ByteLevel; BOS by template.
    p["deepseek_v3"] = (byte_level(shared, pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}{1,3}"), behavior="isolated", invert=False),
        pre_tokenizers.Split(Regex(CJK), behavior="isolated", invert=False),
        pre_tokenizers.Split(Regex(DEEPSEEK3), behavior="isolated", invert=False), bl_noregex]),
        specials=("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"), bos="<｜begin▁of▁sentence｜>"), True)
    # Mistral v0.3 (transformers' LlamaConverter, legacy=False): Metaspace(first, no split), byte fallback.
    t = llama_tok(shared)
    t.normalizer = None
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    t.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False),
                                   decoders.ByteFallback(), decoders.Fuse()])
    t.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                     special_tokens=[("<s>", 1)])
    p["mistral"] = (t, False)
    # LLaMA-2 / Mistral v0.1 (legacy): Prepend + Replace normalizer, Strip decoder.
    t = llama_tok(shared)
    p["llama2_legacy"] = (t, True)
    # Gemma: Replace(" ", "▁") normalizer only (no prefix), byte fallback, <bos> by template.
    t = llama_tok(shared)
    t.normalizer = normalizers.Replace(" ", "▁")
    t.pre_tokenizer = None
    t.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    t.add_special_tokens(["<bos>", "<eos>"])
    bos = t.token_to_id("<bos>")
    eos = t.token_to_id("<eos>")
    t.post_processor = processors.TemplateProcessing(single="<bos> $A <eos>", pair="<bos> $A <eos> $B",
                                                     special_tokens=[("<bos>", bos), ("<eos>", eos)])
    p["gemma"] = (t, True)
    # The remaining components, each pipeline over a vocabulary it can spell.
    p["nfkc_lower_strip"] = (byte_level(shared, pre_tokenizers.ByteLevel(add_prefix_space=True),
                                        normalizer=normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(),
                                                                         normalizers.Strip(left=True, right=True)])),
                             False)
    p["nfkd_nfd_whitespace"] = (byte_level(shared, pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), bl_noregex]),
                                           normalizer=normalizers.Sequence([normalizers.NFKD(), normalizers.NFD(),
                                                                            normalizers.Strip(left=False,
                                                                                              right=True)])), False)
    p["punct_wsplit"] = (byte_level(shared, pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="contiguous"),
        pre_tokenizers.Digits(individual_digits=False), bl_noregex])), False)
    for behavior in ("removed", "merged_with_previous", "merged_with_next", "contiguous"):
        for invert in (False, True):
            p[f"split_{behavior}{'_invert' if invert else ''}"] = (byte_level(shared, pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(r"\s+|\p{P}"), behavior=behavior, invert=invert),
                pre_tokenizers.Split(" ", behavior="isolated"), bl_noregex])), False)
    p["punct_isolated_merged"] = (byte_level(shared, pre_tokenizers.Sequence([
        pre_tokenizers.Punctuation(behavior="merged_with_next"), pre_tokenizers.Punctuation(),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])), False)
    for scheme in ("always", "never"):
        t = llama_tok(shared)
        t.normalizer = normalizers.Prepend("▁") if scheme == "never" else None
        t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme, split=True)
        t.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme=scheme, split=True),
                                       decoders.ByteFallback(), decoders.Fuse()])
        p[f"metaspace_{scheme}_split"] = (t, False)
    return p


def main():
    shared, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    texts = corpus(shared)
    listing, cases = [], []
    for name, (tok, lossless) in pipelines(shared).items():
        path = os.path.join(out, name + ".json")
        tok.save(path)
        listing.append({"name": name, "file": path})
        added = [a.content for a in tok.get_added_tokens_decoder().values()]
        for text in texts + [s + " after a special " + s for s in SPECIAL_TEXTS]:
            ids = tok.encode(text, add_special_tokens=False).ids
            # Lossless pipelines give the text back unless decode skipped a special token in it.
            round_trip = lossless and not any(a in text for a in added)
            cases.append({"pipeline": name, "text": text, "ids": ids, "round_trip": round_trip,
                          "ids_special": tok.encode(text, add_special_tokens=True).ids,
                          "decoded": tok.decode(ids, skip_special_tokens=True)})
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"pipelines": listing, "cases": cases}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
