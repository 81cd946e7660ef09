#pragma once
// NumPy .npy files of token ids (format spec: numpy.lib.format, versions 1.0 / 2.0 / 3.0).
// Only what pre-tokenized ids need: little-endian '<u2' '<u4' '<i4' '<i8', 1-D, C order.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/byte_source.h"

namespace sp::data {

// Integer element types of pre-tokenized id files (.bin: U16 / U32; .npy: any of the four).
enum class IdsDtype { U16, U32, I32, I64 };
size_t ids_dtype_size(IdsDtype t);
const char* ids_dtype_name(IdsDtype t);    // "u16", "u32", "i32", "i64"
IdsDtype parse_ids_dtype(const std::string& name);  // "u16" | "uint16" | "u32" | "uint32"; InputError otherwise

// The header dictionary as written in the file.
struct NpyHeader {
  std::string descr;             // e.g. "<u2"
  bool fortran_order = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;        // bytes from the file start to the first element
};

// Parses the magic, version and header dict; throws InputError naming src.name() and the field.
NpyHeader parse_npy_header(const io::ByteSource& src);

// The layout of a 1-D id array: checks descr / ndim / order / data size against the file.
struct NpyIds {
  IdsDtype dtype;
  size_t count = 0;
  size_t data_offset = 0;
};
NpyIds parse_npy_ids(const io::ByteSource& src);

// Writes ids as a version 1.0 .npy of the given dtype (values must fit it: InputError otherwise).
void write_npy_ids(const std::string& path, std::span<const int32_t> ids, IdsDtype dtype);
// Writes raw little-endian ids (.bin, the nanoGPT convention): U16 or U32 only.
void write_bin_ids(const std::string& path, std::span<const int32_t> ids, IdsDtype dtype);

}  // namespace sp::data
