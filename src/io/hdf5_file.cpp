// HDF5 writer and reader (see hdf5_file.h). Every hid_t lives in an H5Id that closes it; HDF5's
// automatic error printing is off, and a failed call becomes an exception whose message names the
// file, the object and what HDF5 said (read from its error stack).
#include "io/hdf5_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <utility>

#include "core/error.h"
#include "io/output_paths.h"
#include "io/write_error.h"

namespace fs = std::filesystem;

namespace sp::io {
namespace {

// RAII for one HDF5 identifier, closed by the function of its kind (H5Dclose for a dataset, ...).
class H5Id {
 public:
  H5Id() = default;
  H5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  H5Id(H5Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  H5Id& operator=(H5Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  ~H5Id() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; returns the close function's status (negative when it failed).
  herr_t reset() {
    herr_t rc = 0;
    if (id_ >= 0) rc = close_(id_);
    id_ = H5I_INVALID_HID;
    return rc;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

std::string folder_of(const std::string& path) {
  const std::string dir = fs::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// HDF5 prints its error stack to stderr by default; we report through exceptions instead.
void silence_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// What HDF5 said about the call that just failed: the API-level message and the innermost one
// (which carries errno and the file name), then the stack is cleared. Call it before any other
// HDF5 call, since each API call starts a new stack.
std::string h5_error() {
  std::vector<std::string> msgs;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->emplace_back(e->desc ? e->desc : "");
        return 0;
      },
      &msgs);
  H5Eclear2(H5E_DEFAULT);
  if (msgs.empty()) return "HDF5 gave no reason";
  if (msgs.size() == 1 || msgs.front() == msgs.back()) return "HDF5: " + msgs.front();
  return fmt::format("HDF5: {}: {}", msgs.front(), msgs.back());
}

// "/a//b/" -> {"a", "b"}; "/" -> {}.
std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    const size_t j = std::min(path.find('/', i), path.size());
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

enum class Kind { kNone, kGroup, kDataset, kOther };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNone:
      return "missing object";
    case Kind::kGroup:
      return "group";
    case Kind::kDataset:
      return "dataset";
    case Kind::kOther:
      return "named datatype";
  }
  return "object";
}

// What `path` names, walking it one component at a time (H5Lexists needs every parent to exist
// and be a group).
Kind kind_of(hid_t file, const std::string& path) {
  const auto parts = components(path);
  if (parts.empty()) return Kind::kGroup;
  std::string cur;
  for (size_t i = 0; i < parts.size(); ++i) {
    cur += "/" + parts[i];
    if (H5Lexists(file, cur.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return Kind::kNone;
    }
    H5Id obj(H5Oopen(file, cur.c_str(), H5P_DEFAULT), H5Oclose);
    if (!obj.valid()) {  // a dangling soft or external link
      H5Eclear2(H5E_DEFAULT);
      return Kind::kNone;
    }
    const H5I_type_t t = H5Iget_type(obj.get());
    const Kind k = t == H5I_GROUP ? Kind::kGroup : t == H5I_DATASET ? Kind::kDataset : Kind::kOther;
    if (i + 1 == parts.size()) return k;
    if (k != Kind::kGroup) return Kind::kNone;
  }
  return Kind::kNone;
}

// h5py's bool: an enum over an 8-bit integer with exactly FALSE=0 and TRUE=1. `T` is the C type of
// `base` (int8_t for the file type; int64_t for the memory type the reader converts into).
template <typename T>
H5Id bool_enum(hid_t base) {
  H5Id t(H5Tenum_create(base), H5Tclose);
  SP_CHECK(t.valid(), "H5Tenum_create: {}", h5_error());
  const T no = 0, yes = 1;
  SP_CHECK(H5Tenum_insert(t.get(), "FALSE", &no) >= 0 && H5Tenum_insert(t.get(), "TRUE", &yes) >= 0,
           "H5Tenum_insert: {}", h5_error());
  return t;
}

bool is_bool_enum(hid_t type) {
  if (H5Tget_class(type) != H5T_ENUM || H5Tget_nmembers(type) != 2) return false;
  std::set<std::string> names;
  for (unsigned i = 0; i < 2; ++i) {
    char* n = H5Tget_member_name(type, i);
    if (n) names.insert(n);
    H5free_memory(n);
  }
  return names == std::set<std::string>{"FALSE", "TRUE"};
}

H5Id scalar_space() {
  H5Id s(H5Screate(H5S_SCALAR), H5Sclose);
  SP_CHECK(s.valid(), "H5Screate: {}", h5_error());
  return s;
}

H5Id simple_space(const std::vector<hsize_t>& dims) {
  H5Id s(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  SP_CHECK(s.valid(), "H5Screate_simple: {}", h5_error());
  return s;
}

// A scalar, variable-length, null-terminated UTF-8 string type: what h5py reads back as str.
H5Id utf8_string_type() {
  H5Id t(H5Tcopy(H5T_C_S1), H5Tclose);
  SP_CHECK(t.valid() && H5Tset_size(t.get(), H5T_VARIABLE) >= 0 && H5Tset_cset(t.get(), H5T_CSET_UTF8) >= 0 &&
               H5Tset_strpad(t.get(), H5T_STR_NULLTERM) >= 0,
           "variable-length string type: {}", h5_error());
  return t;
}

// fsync of a file HDF5 has already closed (it keeps its descriptor to itself).
void fsync_path(const std::string& path, const std::string& shown) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(fmt::format("{}: cannot reopen {} for fsync: {}", shown, path, std::strerror(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw_write_error(err, shown, "fsync");
}

// Values of a numeric dataset or attribute, read in the widest native type of their class so the
// checks of read_i64 / read_u8 see them exactly: signed integers and bool enums as int64, unsigned
// integers as uint64, floats as double.
struct Numbers {
  enum class Class { kSigned, kUnsigned, kFloat } cls = Class::kSigned;
  std::vector<int64_t> s;
  std::vector<uint64_t> u;
  std::vector<double> f;
};

const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_REFERENCE:
      return "reference";
    case H5T_VLEN:
      return "variable-length";
    case H5T_ARRAY:
      return "array";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_TIME:
      return "time";
    default:
      return "non-numeric";
  }
}

// `where` names the file and the object for messages; read(memtype, buffer) does the H5Dread or
// H5Aread of all `n` values.
template <typename Read>
Numbers read_numbers(hid_t ftype, size_t n, const std::string& where, Read&& read) {
  Numbers out;
  auto check = [&](herr_t rc) { SP_REQUIRE(rc >= 0, "{}: cannot read the values: {}", where, h5_error()); };
  const H5T_class_t cls = H5Tget_class(ftype);
  if (cls == H5T_INTEGER && H5Tget_sign(ftype) == H5T_SGN_NONE) {
    out.cls = Numbers::Class::kUnsigned;
    out.u.resize(n);
    if (n > 0) check(read(H5T_NATIVE_UINT64, out.u.data()));
  } else if (cls == H5T_INTEGER) {
    out.cls = Numbers::Class::kSigned;
    out.s.resize(n);
    if (n > 0) check(read(H5T_NATIVE_INT64, out.s.data()));
  } else if (cls == H5T_FLOAT) {
    out.cls = Numbers::Class::kFloat;
    out.f.resize(n);
    if (n > 0) check(read(H5T_NATIVE_DOUBLE, out.f.data()));
  } else if (cls == H5T_ENUM) {
    SP_REQUIRE(is_bool_enum(ftype), "{}: holds an enum other than h5py's bool (FALSE/TRUE), not numbers", where);
    const H5Id mem = bool_enum<int64_t>(H5T_NATIVE_INT64);  // enum to enum converts by member name
    out.cls = Numbers::Class::kSigned;
    out.s.resize(n);
    if (n > 0) check(read(mem.get(), out.s.data()));
  } else {
    throw_input("{}: holds {} data, not numbers", where, class_name(cls));
  }
  return out;
}

std::vector<double> to_f64(Numbers&& v) {
  switch (v.cls) {
    case Numbers::Class::kFloat:
      return std::move(v.f);
    case Numbers::Class::kSigned:
      return std::vector<double>(v.s.begin(), v.s.end());
    case Numbers::Class::kUnsigned:
      return std::vector<double>(v.u.begin(), v.u.end());
  }
  return {};
}

// Exact conversion or an InputError naming the first value that does not fit [lo, hi].
std::vector<int64_t> to_i64(Numbers&& v, const std::string& where, int64_t lo, int64_t hi, const char* type) {
  auto bad = [&](size_t i, const std::string& value) {
    throw_input("{}: value {} at index {} does not fit {} (integers in [{}, {}])", where, value, i, type, lo, hi);
  };
  std::vector<int64_t> out;
  switch (v.cls) {
    case Numbers::Class::kSigned:
      for (size_t i = 0; i < v.s.size(); ++i)
        if (v.s[i] < lo || v.s[i] > hi) bad(i, std::to_string(v.s[i]));
      return std::move(v.s);
    case Numbers::Class::kUnsigned:
      out.reserve(v.u.size());
      for (size_t i = 0; i < v.u.size(); ++i) {
        if (v.u[i] > uint64_t(hi)) bad(i, std::to_string(v.u[i]));
        out.push_back(int64_t(v.u[i]));
      }
      return out;
    case Numbers::Class::kFloat:
      out.reserve(v.f.size());
      for (size_t i = 0; i < v.f.size(); ++i) {
        const double d = v.f[i];
        // 2^63 is exact in double; int64 holds [-2^63, 2^63).
        if (!(std::trunc(d) == d && d >= double(lo) && d < 9223372036854775808.0 && d <= double(hi)))
          bad(i, fmt::format("{}", d));
        out.push_back(int64_t(d));
      }
      return out;
  }
  return out;
}

constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

}  // namespace

// ---- H5Writer ---------------------------------------------------------------------------------

struct H5Writer::Impl {
  std::string path, tmp;
  H5Id file;
  bool committed = false;

  hid_t f() const {
    SP_CHECK(file.valid(), "{}: H5Writer used after commit()", path);
    return file.get();
  }

  void make_group(const std::string& group) {
    std::string cur;
    for (const auto& part : components(group)) {
      cur += "/" + part;
      const Kind k = kind_of(f(), cur);
      if (k == Kind::kGroup) continue;
      SP_CHECK(k == Kind::kNone, "{}: cannot create group '{}': '{}' is a {}", path, group, cur, kind_name(k));
      H5Id g(H5Gcreate2(f(), cur.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      SP_CHECK(g.valid(), "{}: cannot create group '{}': {}", path, cur, h5_error());
    }
  }

  void dataset(const std::string& obj, hid_t ftype, hid_t mtype, const std::vector<hsize_t>& dims, const void* data) {
    auto parts = components(obj);
    SP_CHECK(!parts.empty(), "{}: a dataset needs a name, got '{}'", path, obj);
    parts.pop_back();
    std::string parent;
    for (const auto& p : parts) parent += "/" + p;
    make_group(parent);
    const Kind k = kind_of(f(), obj);
    SP_CHECK(k == Kind::kNone, "{}: cannot write dataset '{}': a {} exists there", path, obj, kind_name(k));
    const H5Id space = simple_space(dims);
    H5Id ds(H5Dcreate2(f(), obj.c_str(), ftype, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    SP_CHECK(ds.valid(), "{}: cannot create dataset '{}': {}", path, obj, h5_error());
    hsize_t n = 1;
    for (hsize_t d : dims) n *= d;
    // Writing our own data into a dataset just created fails only when the file cannot take it
    // (a full disk, a quota, an I/O error): IoError, exit 74.
    if (n > 0 && H5Dwrite(ds.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)  // (no null buffer for n = 0)
      throw IoError(
          fmt::format("{}: cannot write dataset '{}' ({} bytes): {}", path, obj, n * H5Tget_size(mtype), h5_error()));
    if (ds.reset() < 0) throw IoError(fmt::format("{}: cannot close dataset '{}': {}", path, obj, h5_error()));
  }

  // Creates (or replaces) attribute `name` on `obj` from `n` values at `data`.
  void attribute(const std::string& obj, const std::string& name, hid_t ftype, hid_t mtype, const H5Id& space, size_t n,
                 const void* data) {
    const Kind k = kind_of(f(), obj);
    SP_CHECK(k == Kind::kGroup || k == Kind::kDataset, "{}: cannot set attribute '{}' on '{}': it is a {}", path, name,
             obj, kind_name(k));
    H5Id o(H5Oopen(f(), obj.c_str(), H5P_DEFAULT), H5Oclose);
    SP_CHECK(o.valid(), "{}: cannot open '{}': {}", path, obj, h5_error());
    const htri_t exists = H5Aexists(o.get(), name.c_str());
    SP_CHECK(exists >= 0, "{}: attribute '{}' of '{}': {}", path, name, obj, h5_error());
    if (exists > 0)
      SP_CHECK(H5Adelete(o.get(), name.c_str()) >= 0, "{}: cannot replace attribute '{}' of '{}': {}", path, name, obj,
               h5_error());
    H5Id a(H5Acreate2(o.get(), name.c_str(), ftype, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    SP_CHECK(a.valid(), "{}: cannot create attribute '{}' of '{}': {}", path, name, obj, h5_error());
    if (n > 0)
      SP_CHECK(H5Awrite(a.get(), mtype, data) >= 0, "{}: cannot write attribute '{}' of '{}': {}", path, name, obj,
               h5_error());
    SP_CHECK(a.reset() >= 0, "{}: cannot close attribute '{}' of '{}': {}", path, name, obj, h5_error());
  }
};

H5Writer::H5Writer(std::string path) : impl_(std::make_unique<Impl>()) {
  silence_hdf5();
  Impl& m = *impl_;
  m.path = std::move(path);
  m.tmp = fmt::format("{}.tmp.{}", m.path, ::getpid());
  // Strong close: H5Fclose in commit() flushes and closes everything, so the fsync that follows
  // sees the whole file.
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  SP_CHECK(fapl.valid() && H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG) >= 0, "{}: file access list: {}", m.path,
           h5_error());
  remove_inside_quietly(folder_of(m.tmp), m.tmp);  // a leftover or a planted link: never written through
  m.file = H5Id(H5Fcreate(m.tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  if (!m.file.valid()) {
    const int err = errno;  // HDF5 opens the file with open(2); its errno tells a full disk from a bad path
    const std::string why = h5_error();
    remove_inside_quietly(folder_of(m.tmp), m.tmp);
    const std::string msg = fmt::format("{}: cannot create output file {}: {}", m.path, m.tmp, why);
    if (is_environment_errno(err)) throw IoError(msg);
    throw InputError(msg);
  }
}

H5Writer::~H5Writer() {
  if (!impl_) return;
  impl_->file.reset();
  if (!impl_->committed) remove_inside_quietly(folder_of(impl_->tmp), impl_->tmp);
}

const std::string& H5Writer::path() const { return impl_->path; }

void H5Writer::group(const std::string& path) { impl_->make_group(path); }

void H5Writer::write(const std::string& path, std::span<const double> v) {
  impl_->dataset(path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {hsize_t(v.size())}, v.data());
}
void H5Writer::write(const std::string& path, std::span<const float> v) {
  impl_->dataset(path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {hsize_t(v.size())}, v.data());
}
void H5Writer::write(const std::string& path, std::span<const int64_t> v) {
  impl_->dataset(path, H5T_STD_I64LE, H5T_NATIVE_INT64, {hsize_t(v.size())}, v.data());
}
void H5Writer::write(const std::string& path, std::span<const int32_t> v) {
  impl_->dataset(path, H5T_STD_I32LE, H5T_NATIVE_INT32, {hsize_t(v.size())}, v.data());
}
void H5Writer::write(const std::string& path, std::span<const uint8_t> v) {
  impl_->dataset(path, H5T_STD_U8LE, H5T_NATIVE_UINT8, {hsize_t(v.size())}, v.data());
}

void H5Writer::write_bool(const std::string& path, std::span<const uint8_t> v) {
  std::vector<int8_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i] = v[i] != 0;
  // One byte has no byte order, so the same enum serves as file and memory type.
  const H5Id t = bool_enum<int8_t>(H5T_STD_I8LE);
  impl_->dataset(path, t.get(), t.get(), {hsize_t(b.size())}, b.data());
}

void H5Writer::write_matrix(const std::string& path, std::span<const double> rowmajor, int64_t rows, int64_t cols) {
  SP_CHECK(rows >= 0 && cols >= 0 && rowmajor.size() == size_t(rows * cols),
           "{}: dataset '{}': {} values for a [{}, {}] matrix", impl_->path, path, rowmajor.size(), rows, cols);
  impl_->dataset(path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {hsize_t(rows), hsize_t(cols)}, rowmajor.data());
}
void H5Writer::write_matrix(const std::string& path, std::span<const float> rowmajor, int64_t rows, int64_t cols) {
  SP_CHECK(rows >= 0 && cols >= 0 && rowmajor.size() == size_t(rows * cols),
           "{}: dataset '{}': {} values for a [{}, {}] matrix", impl_->path, path, rowmajor.size(), rows, cols);
  impl_->dataset(path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {hsize_t(rows), hsize_t(cols)}, rowmajor.data());
}

void H5Writer::attribute(const std::string& obj, const std::string& name, const std::string& v) {
  SP_CHECK(v.find('\0') == std::string::npos, "{}: attribute '{}' of '{}': a string attribute cannot hold NUL bytes",
           impl_->path, name, obj);
  const H5Id t = utf8_string_type();
  const char* p = v.c_str();
  impl_->attribute(obj, name, t.get(), t.get(), scalar_space(), 1, &p);
}
void H5Writer::attribute(const std::string& obj, const std::string& name, double v) {
  impl_->attribute(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, scalar_space(), 1, &v);
}
void H5Writer::attribute(const std::string& obj, const std::string& name, int64_t v) {
  impl_->attribute(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, scalar_space(), 1, &v);
}
void H5Writer::attribute(const std::string& obj, const std::string& name, bool v) {
  const H5Id t = bool_enum<int8_t>(H5T_STD_I8LE);
  const int8_t b = v;
  impl_->attribute(obj, name, t.get(), t.get(), scalar_space(), 1, &b);
}
void H5Writer::attribute(const std::string& obj, const std::string& name, const std::vector<double>& v) {
  impl_->attribute(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, simple_space({hsize_t(v.size())}), v.size(), v.data());
}
void H5Writer::attribute(const std::string& obj, const std::string& name, const std::vector<int64_t>& v) {
  impl_->attribute(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, simple_space({hsize_t(v.size())}), v.size(), v.data());
}

void H5Writer::commit() {
  Impl& m = *impl_;
  SP_CHECK(m.file.valid(), "{}: H5Writer::commit() called twice", m.path);
  // Closing flushes what HDF5 buffered: a full disk shows here (IoError, exit 74).
  if (m.file.reset() < 0) throw IoError(fmt::format("{}: closing {} failed: {}", m.path, m.tmp, h5_error()));
  fsync_path(m.tmp, m.path);
  if (std::rename(m.tmp.c_str(), m.path.c_str()) != 0) throw_rename_error(errno, m.path, m.tmp);
  m.committed = true;
  // Make the rename itself durable; failure here is not worth failing the run for.
  const std::string dir = fs::path(m.path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// ---- H5Reader ---------------------------------------------------------------------------------

struct H5Reader::Impl {
  std::string path;
  H5Id file;

  std::string where(const std::string& obj) const { return fmt::format("{}: '{}'", path, obj); }
  std::string where(const std::string& obj, const std::string& name) const {
    return fmt::format("{}: attribute '{}' of '{}'", path, name, obj);
  }

  // Opens `obj`, which must exist and (unless `want` is kNone) be of kind `want`.
  H5Id open(const std::string& obj, Kind want) const {
    const Kind k = kind_of(file.get(), obj);
    SP_REQUIRE(k != Kind::kNone, "{}: no object '{}' in the file", path, obj);
    SP_REQUIRE(want == Kind::kNone || k == want, "{}: '{}' is a {}, not a {}", path, obj, kind_name(k),
               kind_name(want));
    H5Id o(H5Oopen(file.get(), obj.c_str(), H5P_DEFAULT), H5Oclose);
    SP_REQUIRE(o.valid(), "{}: cannot open '{}': {}", path, obj, h5_error());
    return o;
  }

  H5Id open_attr(const std::string& obj, const std::string& name) const {
    const H5Id o = open(obj, Kind::kNone);
    const htri_t exists = H5Aexists(o.get(), name.c_str());
    SP_REQUIRE(exists > 0, "{}: '{}' has no attribute '{}'", path, obj, name);
    H5Id a(H5Aopen(o.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
    SP_REQUIRE(a.valid(), "{}: cannot open: {}", where(obj, name), h5_error());
    return a;
  }

  Numbers dataset_numbers(const std::string& obj) const {
    const H5Id ds = open(obj, Kind::kDataset);
    const H5Id space(H5Dget_space(ds.get()), H5Sclose);
    const H5Id type(H5Dget_type(ds.get()), H5Tclose);
    SP_REQUIRE(space.valid() && type.valid(), "{}: unreadable dataspace or type: {}", where(obj), h5_error());
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    SP_REQUIRE(n >= 0, "{}: unreadable dataspace: {}", where(obj), h5_error());
    return read_numbers(type.get(), size_t(n), where(obj), [&](hid_t mem, void* buf) {
      return H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    });
  }

  Numbers attr_numbers(const std::string& obj, const std::string& name) const {
    const H5Id a = open_attr(obj, name);
    const H5Id space(H5Aget_space(a.get()), H5Sclose);
    const H5Id type(H5Aget_type(a.get()), H5Tclose);
    SP_REQUIRE(space.valid() && type.valid(), "{}: unreadable dataspace or type: {}", where(obj, name), h5_error());
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    SP_REQUIRE(n >= 0, "{}: unreadable dataspace: {}", where(obj, name), h5_error());
    return read_numbers(type.get(), size_t(n), where(obj, name),
                        [&](hid_t mem, void* buf) { return H5Aread(a.get(), mem, buf); });
  }
};

H5Reader::H5Reader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  silence_hdf5();
  impl_->path = path;
  SP_REQUIRE(fs::is_regular_file(path), "{}: HDF5 file not found", path);
  const htri_t is = H5Fis_hdf5(path.c_str());
  SP_REQUIRE(is > 0, "{}: not an HDF5 file{}", path, is < 0 ? " (" + h5_error() + ")" : "");
  impl_->file = H5Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  SP_REQUIRE(impl_->file.valid(), "{}: cannot open the HDF5 file: {}", path, h5_error());
}

H5Reader::~H5Reader() = default;

const std::string& H5Reader::path() const { return impl_->path; }

bool H5Reader::has(const std::string& path) const { return kind_of(impl_->file.get(), path) != Kind::kNone; }

std::vector<std::string> H5Reader::children(const std::string& group) const {
  const H5Id g = impl_->open(group, Kind::kGroup);
  H5G_info_t info;
  SP_REQUIRE(H5Gget_info(g.get(), &info) >= 0, "{}: cannot list: {}", impl_->where(group), h5_error());
  std::vector<std::string> out;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    SP_REQUIRE(len >= 0, "{}: cannot list member {}: {}", impl_->where(group), i, h5_error());
    std::vector<char> name(size_t(len) + 1, '\0');
    SP_REQUIRE(
        H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT) >= 0,
        "{}: cannot list member {}: {}", impl_->where(group), i, h5_error());
    out.emplace_back(name.data(), size_t(len));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> H5Reader::shape(const std::string& dataset) const {
  const H5Id ds = impl_->open(dataset, Kind::kDataset);
  const H5Id space(H5Dget_space(ds.get()), H5Sclose);
  const int nd = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  SP_REQUIRE(nd >= 0, "{}: unreadable dataspace: {}", impl_->where(dataset), h5_error());
  std::vector<hsize_t> dims(size_t(nd), 0);
  if (nd > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

std::vector<double> H5Reader::read_f64(const std::string& dataset) const {
  return to_f64(impl_->dataset_numbers(dataset));
}

std::vector<int64_t> H5Reader::read_i64(const std::string& dataset) const {
  return to_i64(impl_->dataset_numbers(dataset), impl_->where(dataset), kI64Min, kI64Max, "int64");
}

std::vector<uint8_t> H5Reader::read_u8(const std::string& dataset) const {
  const auto v = to_i64(impl_->dataset_numbers(dataset), impl_->where(dataset), 0, 255, "uint8");
  return std::vector<uint8_t>(v.begin(), v.end());
}

bool H5Reader::has_attr(const std::string& obj, const std::string& name) const {
  const H5Id o = impl_->open(obj, Kind::kNone);
  const htri_t exists = H5Aexists(o.get(), name.c_str());
  SP_REQUIRE(exists >= 0, "{}: {}", impl_->where(obj, name), h5_error());
  return exists > 0;
}

std::string H5Reader::attr_string(const std::string& obj, const std::string& name) const {
  const std::string where = impl_->where(obj, name);
  const H5Id a = impl_->open_attr(obj, name);
  const H5Id space(H5Aget_space(a.get()), H5Sclose);
  const H5Id type(H5Aget_type(a.get()), H5Tclose);
  SP_REQUIRE(space.valid() && type.valid(), "{}: unreadable dataspace or type: {}", where, h5_error());
  const H5T_class_t cls = H5Tget_class(type.get());
  SP_REQUIRE(cls == H5T_STRING, "{}: holds {} data, not a string", where,
             cls == H5T_INTEGER || cls == H5T_FLOAT || cls == H5T_ENUM ? "numeric" : class_name(cls));
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  SP_REQUIRE(n == 1, "{}: holds {} strings, not one", where, n);
  if (H5Tis_variable_str(type.get()) > 0) {
    H5Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
    SP_CHECK(mem.valid() && H5Tset_size(mem.get(), H5T_VARIABLE) >= 0 &&
                 H5Tset_cset(mem.get(), H5Tget_cset(type.get())) >= 0,
             "{}: string memory type: {}", where, h5_error());
    char* p = nullptr;
    SP_REQUIRE(H5Aread(a.get(), mem.get(), &p) >= 0, "{}: cannot read the string: {}", where, h5_error());
    std::string out = p ? p : "";
    H5free_memory(p);
    return out;
  }
  // Fixed length: read the bytes as stored, then drop the padding.
  const size_t len = H5Tget_size(type.get());
  std::string out(len, '\0');
  SP_REQUIRE(len == 0 || H5Aread(a.get(), type.get(), out.data()) >= 0, "{}: cannot read the string: {}", where,
             h5_error());
  out.resize(std::min(out.size(), out.find('\0')));
  if (H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD) out.erase(out.find_last_not_of(' ') + 1);
  return out;
}

double H5Reader::attr_f64(const std::string& obj, const std::string& name) const {
  const auto v = to_f64(impl_->attr_numbers(obj, name));
  SP_REQUIRE(v.size() == 1, "{}: holds {} values, not one", impl_->where(obj, name), v.size());
  return v[0];
}

int64_t H5Reader::attr_i64(const std::string& obj, const std::string& name) const {
  const std::string where = impl_->where(obj, name);
  const auto v = to_i64(impl_->attr_numbers(obj, name), where, kI64Min, kI64Max, "int64");
  SP_REQUIRE(v.size() == 1, "{}: holds {} values, not one", where, v.size());
  return v[0];
}

bool H5Reader::attr_bool(const std::string& obj, const std::string& name) const {
  const std::string where = impl_->where(obj, name);
  const auto v = to_i64(impl_->attr_numbers(obj, name), where, 0, 1, "bool");
  SP_REQUIRE(v.size() == 1, "{}: holds {} values, not one", where, v.size());
  return v[0] != 0;
}

std::vector<double> H5Reader::attr_f64_vector(const std::string& obj, const std::string& name) const {
  return to_f64(impl_->attr_numbers(obj, name));
}

std::vector<int64_t> H5Reader::attr_i64_vector(const std::string& obj, const std::string& name) const {
  return to_i64(impl_->attr_numbers(obj, name), impl_->where(obj, name), kI64Min, kI64Max, "int64");
}

}  // namespace sp::io
