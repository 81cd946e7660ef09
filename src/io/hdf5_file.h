#pragma once
// HDF5 files (masks, pruning records) written and read with the HDF5 C library, which this header
// keeps out of sight: no hdf5.h here, the handles live in the .cpp (pimpl).
//
// On-disk conventions, chosen so that h5py reads the files back as numpy would have written them:
//  * datasets are contiguous, little-endian IEEE floats / two's-complement integers (<f8, <f4, <i8,
//    <i4, |u1); a 0-element dataset has the 1-D dataspace {0};
//  * booleans (write_bool, bool attributes) are h5py's bool: an enum over int8 with exactly the
//    members FALSE=0 and TRUE=1, so h5py gives dtype bool;
//  * string attributes are scalar, variable-length, UTF-8, null-terminated (h5py gives str);
//  * numeric attributes are scalars (<f8, <i8) or 1-D arrays (std::vector arguments).
//
// Paths are HDF5 paths: "/a/b" ("a/b" is the same, relative to the root); "/" is the root group.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sp::io {

// Writes a new HDF5 file atomically: everything goes to "<path>.tmp.<pid>"; commit() closes it,
// fsyncs it and renames it over `path` (then fsyncs the folder), as AtomicFile does. Destroyed
// without commit(), the writer removes its temporary and leaves `path` untouched.
// Errors: the output cannot be created -> InputError naming the path (IoError for a full disk);
// a dataset that cannot be written, or a close, fsync or rename that fails -> IoError (exit 74); an HDF5
// call that fails otherwise, or misuse (a dataset written twice, a parent that is a dataset, an
// attribute on a missing object) -> RuntimeFailure naming the file and the object.
class H5Writer {
 public:
  explicit H5Writer(std::string path);
  ~H5Writer();
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  const std::string& path() const;

  // Creates the group and its missing parents; an existing group is fine.
  void group(const std::string& path);

  // 1-D datasets; missing parent groups are created. Size 0 is allowed.
  void write(const std::string& path, std::span<const double> v);
  void write(const std::string& path, std::span<const float> v);
  void write(const std::string& path, std::span<const int64_t> v);
  void write(const std::string& path, std::span<const int32_t> v);
  void write(const std::string& path, std::span<const uint8_t> v);
  // h5py's bool (see above); any non-zero byte is TRUE.
  void write_bool(const std::string& path, std::span<const uint8_t> v);
  // 2-D datasets [rows, cols]; `rowmajor` holds rows*cols values.
  void write_matrix(const std::string& path, std::span<const double> rowmajor, int64_t rows, int64_t cols);
  void write_matrix(const std::string& path, std::span<const float> rowmajor, int64_t rows, int64_t cols);

  // Attributes on an existing group or dataset ("/" = the root). Writing a name again replaces it.
  void attribute(const std::string& obj, const std::string& name, const std::string& v);
  void attribute(const std::string& obj, const std::string& name, const char* v) {
    attribute(obj, name, std::string(v));  // not the bool overload
  }
  void attribute(const std::string& obj, const std::string& name, double v);
  void attribute(const std::string& obj, const std::string& name, int64_t v);
  void attribute(const std::string& obj, const std::string& name, int v) { attribute(obj, name, int64_t{v}); }
  void attribute(const std::string& obj, const std::string& name, bool v);  // h5py's bool enum
  void attribute(const std::string& obj, const std::string& name, const std::vector<double>& v);
  void attribute(const std::string& obj, const std::string& name, const std::vector<int64_t>& v);

  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads an HDF5 file (ours, h5py's, anyone's). Everything wrong with the file is an InputError
// naming the file and the object: missing file, not HDF5, missing object or attribute, wrong kind
// (a group where a dataset is expected), non-numeric data, values that do not fit the requested
// type (read_i64 of 2.5, read_u8 of 300).
class H5Reader {
 public:
  explicit H5Reader(const std::string& path);
  ~H5Reader();
  H5Reader(const H5Reader&) = delete;
  H5Reader& operator=(const H5Reader&) = delete;

  const std::string& path() const;

  bool has(const std::string& path) const;                            // a group or dataset exists there
  std::vector<std::string> children(const std::string& group) const;  // member names, sorted
  std::vector<int64_t> shape(const std::string& dataset) const;       // {} for a scalar

  // All values of a dataset of any rank, row-major. Any integer, float or bool-enum storage is
  // accepted (bool reads as 0/1); read_i64 and read_u8 refuse values they cannot hold exactly.
  std::vector<double> read_f64(const std::string& dataset) const;
  std::vector<int64_t> read_i64(const std::string& dataset) const;
  std::vector<uint8_t> read_u8(const std::string& dataset) const;

  bool has_attr(const std::string& obj, const std::string& name) const;
  std::string attr_string(const std::string& obj, const std::string& name) const;  // fixed or variable length
  double attr_f64(const std::string& obj, const std::string& name) const;          // a single value
  int64_t attr_i64(const std::string& obj, const std::string& name) const;         // a single value
  bool attr_bool(const std::string& obj, const std::string& name) const;           // bool enum or integer 0/1
  std::vector<double> attr_f64_vector(const std::string& obj, const std::string& name) const;
  std::vector<int64_t> attr_i64_vector(const std::string& obj, const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sp::io
