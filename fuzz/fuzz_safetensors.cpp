// libFuzzer target: the safetensors parser (io/safetensors.h) on arbitrary file bytes. Every tensor
// the parser accepts must lie inside the buffer: its first and last byte are read (ASan checks).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "io/byte_source.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = sp::io::SafetensorsFile::parse(
        sp::io::memory_bytes(std::vector<uint8_t>(data, data + size), "fuzz.safetensors"));
    unsigned sum = 0;
    for (const auto& e : file->entries()) {
      if (e.end > e.begin) sum += file->bytes(e)[0] + file->bytes(e)[e.end - e.begin - 1];
      (void)file->find(e.name);
    }
    static volatile unsigned sink;
    sink = sum;
  } catch (const sp::InputError&) {
  }
  return 0;
}
