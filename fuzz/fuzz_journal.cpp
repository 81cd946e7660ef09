// libFuzzer target: the resume journal's readers (persist/journal_read.h) on arbitrary bytes, in the
// format parse_journal_fuzz_input describes (inputs.json, pass1.json or a layer's record and
// tensors). Bad input must end in sp::InputError; a crash, a sanitizer report or another exception
// is a finding (then a file under tests/fuzz_regressions/journal/). Seeds: fuzz/make_seeds.py.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "persist/journal_read.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    static volatile unsigned sink;
    sink = sp::persist::parse_journal_fuzz_input(data, size);
  } catch (const sp::InputError&) {
  }
  return 0;
}
