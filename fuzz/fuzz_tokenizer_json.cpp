// libFuzzer target: tokenizer.json (tokenize/tokenizer_hf.h). A tokenizer that loads must encode and
// decode a few fixed texts (ASCII, multi-byte UTF-8, special-token spellings) without failing, and
// every id it produces must lie below its vocab_size.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "tokenize/tokenizer_hf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<sp::tok::HfTokenizer> t;
  try {
    t = sp::tok::HfTokenizer::from_json_text(std::string_view(reinterpret_cast<const char*>(data), size),
                                             "fuzz/tokenizer.json");
  } catch (const sp::InputError&) {
    return 0;
  }
  for (std::string_view text : {"Hello world, it's 2024!\n  x", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "<s> a</s>",
                                "\xff\xfe broken"}) {
    try {
      const auto ids = t->encode(text);
      for (const int32_t id : ids)
        if (id < 0 || id >= t->vocab_size()) std::abort();
      (void)t->decode(ids);
    } catch (const sp::InputError&) {  // e.g. a piece with no id and no byte fallback
    }
  }
  return 0;
}
