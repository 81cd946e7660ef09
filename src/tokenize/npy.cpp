#include "tokenize/npy.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <sstream>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"
#include "io/atomic_file.h"

namespace sp::data {

static_assert(std::endian::native == std::endian::little, "id files are read as little-endian in place");

size_t ids_dtype_size(IdsDtype t) {
  switch (t) {
    case IdsDtype::U16: return 2;
    case IdsDtype::U32: return 4;
    case IdsDtype::I32: return 4;
    case IdsDtype::I64: return 8;
  }
  return 0;
}

const char* ids_dtype_name(IdsDtype t) {
  switch (t) {
    case IdsDtype::U16: return "u16";
    case IdsDtype::U32: return "u32";
    case IdsDtype::I32: return "i32";
    case IdsDtype::I64: return "i64";
  }
  return "?";
}

IdsDtype parse_ids_dtype(const std::string& name) {
  if (name == "u16" || name == "uint16") return IdsDtype::U16;
  if (name == "u32" || name == "uint32") return IdsDtype::U32;
  throw_input("ids_dtype: '{}' is not supported for .bin files (use u16 or u32)", name);
}

namespace {

// Recursive-descent reader of the header dict, a Python literal such as
// "{'descr': '<u2', 'fortran_order': False, 'shape': (10,), }".
class DictReader {
 public:
  DictReader(std::string_view s, const std::string& file) : s_(s), file_(file) {}

  NpyHeader read() {
    NpyHeader h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    for (;;) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = read_string();
      expect(':');
      if (key == "descr") {
        h.descr = read_string(), seen_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = read_bool(), seen_order = true;
      } else if (key == "shape") {
        h.shape = read_tuple(), seen_shape = true;
      } else {
        fail(fmt::format("unknown key '{}'", key));
      }
      skip_ws();
      if (peek() == ',') ++i_;
      else if (peek() != '}') fail("expected ',' or '}'");
    }
    ++i_;
    SP_REQUIRE(seen_descr && seen_order && seen_shape,
               "{}: .npy header lacks {}", file_, !seen_descr ? "'descr'" : !seen_order ? "'fortran_order'" : "'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw_input("{}: malformed .npy header at character {}: {} (header: {})", file_, i_, what, s_);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n')) ++i_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) fail(fmt::format("expected '{}'", c));
    ++i_;
  }
  std::string read_string() {
    skip_ws();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  bool read_bool() {
    skip_ws();
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    fail("expected True or False");
  }
  std::vector<int64_t> read_tuple() {
    std::vector<int64_t> dims;
    expect('(');
    for (;;) {
      skip_ws();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("expected a dimension");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) fail("dimension too large");
        v = v * 10 + (s_[i_++] - '0');
      }
      if (peek() == 'L') ++i_;  // Python 2 long literal
      dims.push_back(v);
      skip_ws();
      if (peek() == ',') ++i_;
      else if (peek() != ')') fail("expected ',' or ')'");
    }
    ++i_;
    return dims;
  }

  std::string_view s_;
  const std::string& file_;
  size_t i_ = 0;
};

template <typename T>
void write_le(std::ostream& f, T v) {
  f.write(reinterpret_cast<const char*>(&v), sizeof(T));
}

void write_ids(std::ostream& f, std::span<const int32_t> ids, IdsDtype dtype, const std::string& path) {
  for (size_t i = 0; i < ids.size(); ++i) {
    const int64_t v = ids[i];
    switch (dtype) {
      case IdsDtype::U16:
        SP_REQUIRE(v >= 0 && v <= 0xFFFF, "{}: id {} at position {} does not fit u16", path, v, i);
        write_le(f, static_cast<uint16_t>(v));
        break;
      case IdsDtype::U32:
        SP_REQUIRE(v >= 0, "{}: id {} at position {} does not fit u32", path, v, i);
        write_le(f, static_cast<uint32_t>(v));
        break;
      case IdsDtype::I32: write_le(f, static_cast<int32_t>(v)); break;
      case IdsDtype::I64: write_le(f, v); break;
    }
  }
}

}  // namespace

NpyHeader parse_npy_header(const io::ByteSource& src) {
  const std::string& name = src.name();
  const uint8_t* p = src.data();
  const size_t n = src.size();
  SP_REQUIRE(n >= 10 && std::memcmp(p, "\x93NUMPY", 6) == 0, "{}: not a .npy file (bad magic)", name);
  const int major = p[6];
  size_t header_len = 0, prefix = 0;
  if (major == 1) {
    header_len = size_t(p[8]) | size_t(p[9]) << 8;
    prefix = 10;
  } else if (major == 2 || major == 3) {
    SP_REQUIRE(n >= 12, "{}: truncated .npy header", name);
    header_len = size_t(p[8]) | size_t(p[9]) << 8 | size_t(p[10]) << 16 | size_t(p[11]) << 24;
    prefix = 12;
  } else {
    throw_input("{}: unsupported .npy version {}.{}", name, major, int(p[7]));
  }
  SP_REQUIRE(header_len <= n - prefix, "{}: truncated .npy header ({} bytes announced, {} present)", name,
             header_len, n - prefix);
  const std::string_view dict(reinterpret_cast<const char*>(p + prefix), header_len);
  NpyHeader h = DictReader(dict, name).read();
  h.data_offset = prefix + header_len;
  return h;
}

NpyIds parse_npy_ids(const io::ByteSource& src) {
  const NpyHeader h = parse_npy_header(src);
  const std::string& name = src.name();
  NpyIds out{};
  if (h.descr == "<u2") out.dtype = IdsDtype::U16;
  else if (h.descr == "<u4") out.dtype = IdsDtype::U32;
  else if (h.descr == "<i4") out.dtype = IdsDtype::I32;
  else if (h.descr == "<i8") out.dtype = IdsDtype::I64;
  else throw_input("{}: .npy descr '{}' is not supported for token ids (use '<u2', '<u4', '<i4' or '<i8')", name, h.descr);
  SP_REQUIRE(!h.fortran_order, "{}: .npy fortran_order is True; token ids must be C order", name);
  SP_REQUIRE(h.shape.size() == 1, "{}: .npy shape has {} dimensions; token ids must be 1-D", name, h.shape.size());
  out.count = size_t(h.shape[0]);
  out.data_offset = h.data_offset;
  const size_t isz = ids_dtype_size(out.dtype);
  const size_t have = src.size() - h.data_offset;
  SP_REQUIRE(out.count <= have / isz && have == out.count * isz,
             "{}: .npy data is {} bytes, shape ({},) of '{}' needs {}", name, have, out.count, h.descr,
             out.count * isz);
  return out;
}

void write_npy_ids(const std::string& path, std::span<const int32_t> ids, IdsDtype dtype) {
  const char* descr = dtype == IdsDtype::U16 ? "<u2" : dtype == IdsDtype::U32 ? "<u4" : dtype == IdsDtype::I32 ? "<i4" : "<i8";
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({},), }}", descr, ids.size());
  // numpy pads with spaces and a final '\n' so that the data starts at a multiple of 64 bytes.
  const size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict.push_back('\n');
  std::ostringstream f(std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  write_le(f, static_cast<uint16_t>(dict.size()));
  f.write(dict.data(), std::streamsize(dict.size()));
  write_ids(f, ids, dtype, path);
  io::write_file_atomic(path, f.view());  // a failed run leaves no partial file
}

void write_bin_ids(const std::string& path, std::span<const int32_t> ids, IdsDtype dtype) {
  SP_REQUIRE(dtype == IdsDtype::U16 || dtype == IdsDtype::U32, "{}: .bin ids are u16 or u32, not {}", path,
             ids_dtype_name(dtype));
  std::ostringstream f(std::ios::binary);
  write_ids(f, ids, dtype, path);
  io::write_file_atomic(path, f.view());
}

}  // namespace sp::data
