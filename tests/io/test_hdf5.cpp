// HDF5 writer and reader: a round trip of every type, atomicity, errors that name the file and the
// object, and two independent clients: h5dump (skipped when absent; hdf5-tools) and h5py
// (skipped when `import h5py, numpy` fails; $STRUPRUNE_PYTHON picks the interpreter).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "io/hdf5_file.h"
#include "io_test_util.h"

namespace sp::io {
namespace {

namespace fs = std::filesystem;
using test::listing;
using test::ScratchDir;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string python() {
  const char* p = std::getenv("STRUPRUNE_PYTHON");
  return p && *p ? p : "python3";
}

bool have_h5py() { return std::system((python() + " -c 'import h5py, numpy' > /dev/null 2>&1").c_str()) == 0; }

// Runs a Python script file, output to <script>.log; returns its exit status.
int run_python(const std::string& script) {
  return std::system((python() + " " + script + " > " + script + ".log 2>&1").c_str());
}

const std::vector<double> kF64 = {1.5, -2.25, 0.0, 1e300, -1e-300, std::numeric_limits<double>::infinity()};
const std::vector<float> kF32 = {0.5f, -3.f, 65504.f, 1e-20f};
const std::vector<int64_t> kI64 = {std::numeric_limits<int64_t>::min(), -1, 0, 1LL << 40,
                                   std::numeric_limits<int64_t>::max()};
const std::vector<int32_t> kI32 = {-7, 0, 2147483647};
const std::vector<uint8_t> kU8 = {0, 1, 200, 255};
const std::vector<uint8_t> kBool = {1, 0, 0, 1, 1};
const std::vector<double> kMat = {1, 2, 3, 4, 5, 6};  // [2, 3]

// A file holding every dataset and attribute kind the writer has; returns its path.
std::string write_sample(const ScratchDir& d) {
  const std::string path = d / "sample.h5";
  H5Writer w(path);
  w.write("/values/f64", kF64);
  w.write("/values/f32", kF32);
  w.write("/values/i64", kI64);
  w.write("/values/i32", kI32);
  w.write("values/u8", kU8);  // relative to the root: the same as "/values/u8"
  w.write_bool("/masks/layer_0/heads", kBool);
  w.write_bool("/masks/layer_0/empty", std::vector<uint8_t>{});
  w.write("/empty/f64", std::vector<double>{});
  w.write("/empty/i64", std::vector<int64_t>{});
  w.write_matrix("/mat/f64", kMat, 2, 3);
  w.write_matrix("/mat/f32", std::vector<float>{1.f, 2.f, 3.f, 4.f}, 4, 1);
  w.write_matrix("/mat/empty", std::vector<double>{}, 0, 5);
  w.group("/config");
  w.group("/config");  // again: fine
  w.group("/deep/a/b/c");
  w.attribute("/", "model", "ref-llama \xc3\xa9t\xc3\xa9");  // UTF-8
  w.attribute("/", "sparsity", 0.375);
  w.attribute("/", "layers", int64_t{32});
  w.attribute("/", "small", 3);  // int: stored as int64
  w.attribute("/", "refit", true);
  w.attribute("/", "dense", false);
  w.attribute("/", "ratios", std::vector<double>{0.5, 0.25});
  w.attribute("/", "kept", std::vector<int64_t>{11008, -4});
  w.attribute("/", "none", std::vector<double>{});
  w.attribute("/masks/layer_0/heads", "unit", std::string("head"));
  w.attribute("/config", "yaml", std::string("a: 1\nb: [2, 3]\n"));
  w.attribute("/config", "yaml", std::string("replaced"));  // a name written again replaces it
  w.commit();
  return path;
}

TEST(Hdf5, RoundTripEveryType) {
  ScratchDir d;
  const H5Reader r(write_sample(d));
  EXPECT_EQ(r.read_f64("/values/f64"), kF64);
  const auto f32 = r.read_f64("/values/f32");
  ASSERT_EQ(f32.size(), kF32.size());
  for (size_t i = 0; i < kF32.size(); ++i) EXPECT_EQ(f32[i], double(kF32[i]));
  EXPECT_EQ(r.read_i64("/values/i64"), kI64);
  EXPECT_EQ(r.read_i64("/values/i32"), std::vector<int64_t>(kI32.begin(), kI32.end()));
  EXPECT_EQ(r.read_u8("/values/u8"), kU8);
  EXPECT_EQ(r.read_u8("/masks/layer_0/heads"), kBool);
  EXPECT_EQ(r.read_f64("/masks/layer_0/heads"), (std::vector<double>{1, 0, 0, 1, 1}));  // bool as 0/1
  EXPECT_EQ(r.read_u8("/masks/layer_0/empty"), std::vector<uint8_t>{});
  EXPECT_EQ(r.shape("/masks/layer_0/empty"), (std::vector<int64_t>{0}));
  EXPECT_EQ(r.read_f64("/empty/f64"), std::vector<double>{});
  EXPECT_EQ(r.read_i64("/empty/i64"), std::vector<int64_t>{});
  EXPECT_EQ(r.read_f64("/mat/f64"), kMat);
  EXPECT_EQ(r.shape("/mat/f64"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.read_i64("/mat/f32"), (std::vector<int64_t>{1, 2, 3, 4}));  // integral floats convert
  EXPECT_EQ(r.shape("/mat/f32"), (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(r.shape("/mat/empty"), (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(r.shape("/values/u8"), (std::vector<int64_t>{4}));

  EXPECT_EQ(r.children("/"), (std::vector<std::string>{"config", "deep", "empty", "masks", "mat", "values"}));
  EXPECT_EQ(r.children("/values"), (std::vector<std::string>{"f32", "f64", "i32", "i64", "u8"}));
  EXPECT_EQ(r.children("/deep/a/b/c"), std::vector<std::string>{});
  EXPECT_TRUE(r.has("/deep/a/b/c"));
  EXPECT_TRUE(r.has("masks/layer_0/heads"));
  EXPECT_TRUE(r.has("/"));
  EXPECT_FALSE(r.has("/masks/layer_1"));
  EXPECT_FALSE(r.has("/values/f64/below_a_dataset"));

  EXPECT_EQ(r.attr_string("/", "model"), "ref-llama \xc3\xa9t\xc3\xa9");
  EXPECT_EQ(r.attr_f64("/", "sparsity"), 0.375);
  EXPECT_EQ(r.attr_i64("/", "layers"), 32);
  EXPECT_EQ(r.attr_f64("/", "layers"), 32.0);
  EXPECT_EQ(r.attr_i64("/", "small"), 3);
  EXPECT_TRUE(r.attr_bool("/", "refit"));
  EXPECT_FALSE(r.attr_bool("/", "dense"));
  EXPECT_EQ(r.attr_i64("/", "refit"), 1);
  EXPECT_EQ(r.attr_f64_vector("/", "ratios"), (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(r.attr_i64_vector("/", "kept"), (std::vector<int64_t>{11008, -4}));
  EXPECT_EQ(r.attr_f64_vector("/", "none"), std::vector<double>{});
  EXPECT_EQ(r.attr_string("/masks/layer_0/heads", "unit"), "head");
  EXPECT_EQ(r.attr_string("/config", "yaml"), "replaced");
  EXPECT_TRUE(r.has_attr("/", "sparsity"));
  EXPECT_FALSE(r.has_attr("/", "nope"));
  EXPECT_FALSE(r.has_attr("/values/f64", "unit"));
}

TEST(Hdf5, AtomicCommit) {
  ScratchDir d;
  const std::string path = d / "masks.h5";
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    H5Writer w(path);
    w.write("/x", std::vector<double>{1.0});
    EXPECT_FALSE(fs::exists(path));  // nothing under the final name before commit
    EXPECT_TRUE(fs::exists(tmp));
    w.commit();
    EXPECT_TRUE(fs::exists(path));
    EXPECT_FALSE(fs::exists(tmp));
  }
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"masks.h5"}));

  // Destroyed without commit (say an exception mid-write): the temporary goes, `path` keeps the
  // earlier file.
  try {
    H5Writer w(path);
    w.write("/x", std::vector<double>{2.0});
    w.write("/x", std::vector<double>{3.0});  // a dataset written twice is a bug: RuntimeFailure
    ADD_FAILURE() << "no exception";
  } catch (const RuntimeFailure& e) {
    EXPECT_NE(std::string(e.what()).find("'/x'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"masks.h5"}));
  EXPECT_EQ(H5Reader(path).read_f64("/x"), std::vector<double>{1.0});

  // A fresh name, abandoned: nothing at all is left.
  { H5Writer w(d / "never.h5"); }
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"masks.h5"}));

  // Commit replaces an existing file.
  {
    H5Writer w(path);
    w.write("/y", std::vector<int64_t>{7});
    w.commit();
  }
  const H5Reader r(path);
  EXPECT_FALSE(r.has("/x"));
  EXPECT_EQ(r.read_i64("/y"), std::vector<int64_t>{7});
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"masks.h5"}));
}

TEST(Hdf5, UnwritableDestinationNamesThePath) {
  ScratchDir d;
  test::write_bytes(d / "afile", {1});  // a regular file where a folder should be
  test::expect_input_error([&] { H5Writer w(d / "afile/masks.h5"); }, {"afile/masks.h5"});
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"afile"}));
}

TEST(Hdf5, WriterMisuseNamesTheObject) {
  ScratchDir d;
  H5Writer w(d / "m.h5");
  w.write("/a", std::vector<double>{1.0});
  auto failure = [](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const RuntimeFailure& e) {
      return e.what();
    }
    return "<no RuntimeFailure>";
  };
  EXPECT_NE(failure([&] { w.group("/a/b"); }).find("'/a'"), std::string::npos);
  EXPECT_NE(failure([&] { w.write("/a/b", std::vector<double>{1.0}); }).find("'/a'"), std::string::npos);
  EXPECT_NE(failure([&] { w.attribute("/missing", "k", 1.0); }).find("'/missing'"), std::string::npos);
  EXPECT_NE(failure([&] { w.write_matrix("/m", std::vector<double>{1, 2, 3}, 2, 2); }).find("'/m'"), std::string::npos);
  w.commit();
  EXPECT_NE(failure([&] { w.write("/late", std::vector<double>{}); }).find("after commit"), std::string::npos);
}

TEST(Hdf5, ReaderErrorsNameFileAndObject) {
  ScratchDir d;
  const std::string path = write_sample(d);
  test::expect_input_error([&] { H5Reader r(d / "absent.h5"); }, {"absent.h5", "not found"});
  test::write_bytes(d / "plain.h5", {'n', 'o', 't', ' ', 'h', 'd', 'f', '5'});
  test::expect_input_error([&] { H5Reader r(d / "plain.h5"); }, {"plain.h5", "not an HDF5 file"});

  const H5Reader r(path);
  test::expect_input_error([&] { r.read_f64("/masks/layer_7/heads"); }, {path, "/masks/layer_7/heads"});
  test::expect_input_error([&] { r.shape("/nope"); }, {path, "/nope"});
  test::expect_input_error([&] { r.children("/nope/deeper"); }, {path, "/nope/deeper"});
  test::expect_input_error([&] { r.read_f64("/values"); }, {path, "'/values'", "group"});
  test::expect_input_error([&] { r.children("/values/f64"); }, {path, "'/values/f64'", "dataset"});
  test::expect_input_error([&] { r.attr_f64("/", "absent_attr"); }, {path, "absent_attr"});
  test::expect_input_error([&] { r.attr_f64("/nope", "sparsity"); }, {path, "/nope"});
  test::expect_input_error([&] { r.has_attr("/nope", "sparsity"); }, {path, "/nope"});
  // Values that the requested type cannot hold exactly, and the wrong kind of data.
  test::expect_input_error([&] { r.read_i64("/values/f64"); }, {path, "/values/f64", "1.5", "index 0"});
  test::expect_input_error([&] { r.read_u8("/values/i32"); }, {path, "/values/i32", "-7", "uint8"});
  test::expect_input_error([&] { r.read_u8("/values/i64"); }, {path, "/values/i64", "-9223372036854775808"});
  test::expect_input_error([&] { r.attr_string("/", "sparsity"); }, {path, "sparsity", "not a string"});
  test::expect_input_error([&] { r.attr_f64("/", "model"); }, {path, "model", "string"});
  test::expect_input_error([&] { r.attr_f64("/", "ratios"); }, {path, "ratios", "2 values"});
  test::expect_input_error([&] { r.attr_bool("/", "layers"); }, {path, "layers", "32"});
}

TEST(Hdf5, H5dumpReadsOurFile) {
  if (std::system("command -v h5dump > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "h5dump not on PATH (Debian package hdf5-tools)";
  ScratchDir d;
  const std::string path = write_sample(d), out = d / "dump.txt";
  ASSERT_EQ(std::system(("h5dump " + path + " > " + out + " 2>&1").c_str()), 0) << slurp(out);
  const std::string dump = slurp(out);
  for (const char* s : {"DATASET \"f64\"", "DATASET \"heads\"", "GROUP \"layer_0\"", "1.5, -2.25, 0, 1e+300",
                        "-9223372036854775808", "200, 255", "FALSE, TRUE", "ATTRIBUTE \"sparsity\"", "0.375",
                        "H5T_STR_NULLTERM", "H5T_CSET_UTF8", "\"head\"", "H5T_ENUM"})
    EXPECT_NE(dump.find(s), std::string::npos) << "'" << s << "' not in the h5dump output:\n" << dump;
}

TEST(Hdf5, H5pyReadsOurFile) {
  if (!have_h5py()) GTEST_SKIP() << python() << " lacks h5py/numpy";
  ScratchDir d;
  const std::string path = write_sample(d), py = d / "r.py";
  std::ofstream(py) << "import h5py, numpy as np\n"
                    << "f = h5py.File('" << path << "', 'r')\n"
                    << "m = f['masks/layer_0/heads']\n"
                    << "assert m.dtype == np.bool_, m.dtype\n"
                    << "assert m[()].tolist() == [True, False, False, True, True], m[()]\n"
                    << "assert f['masks/layer_0/empty'].dtype == np.bool_ and f['masks/layer_0/empty'].shape == (0,)\n"
                    << "assert f['values/f64'].dtype == np.dtype('<f8') and f['values/f64'][1] == -2.25\n"
                    << "assert f['values/f32'].dtype == np.dtype('<f4') and f['values/f32'][2] == 65504\n"
                    << "assert f['values/i64'][0] == -2**63 and f['values/i64'].dtype == np.dtype('<i8')\n"
                    << "assert f['values/i32'].dtype == np.dtype('<i4') and f['values/u8'].dtype == np.uint8\n"
                    << "assert f['mat/f64'].shape == (2, 3) and f['mat/f64'][1, 2] == 6\n"
                    << "assert f['mat/empty'].shape == (0, 5) and f['empty/f64'].shape == (0,)\n"
                    << "a = f.attrs\n"
                    << "assert isinstance(a['model'], str) and a['model'] == 'ref-llama \\u00e9t\\u00e9', a['model']\n"
                    << "assert a['sparsity'] == 0.375 and a['layers'] == 32 and a['layers'].dtype == np.int64\n"
                    << "assert isinstance(a['refit'], np.bool_) and a['refit'] and not a['dense'], type(a['refit'])\n"
                    << "assert a['ratios'].tolist() == [0.5, 0.25] and a['kept'].tolist() == [11008, -4]\n"
                    << "assert a['none'].shape == (0,), a['none']\n"
                    << "assert m.attrs['unit'] == 'head' and f['config'].attrs['yaml'] == 'replaced'\n"
                    << "assert sorted(f.keys()) == ['config', 'deep', 'empty', 'masks', 'mat', 'values']\n"
                    << "print('ok')\n";
  ASSERT_EQ(run_python(py), 0) << slurp(py + ".log");
}

TEST(Hdf5, ReadsH5pyFile) {
  if (!have_h5py()) GTEST_SKIP() << python() << " lacks h5py/numpy";
  ScratchDir d;
  const std::string path = d / "py.h5", py = d / "w.py";
  std::ofstream(py) << "import h5py, numpy as np\n"
                    << "with h5py.File('" << path << "', 'w') as f:\n"
                    << "    f['m'] = np.array([True, False, True])\n"
                    << "    f['g/h'] = np.arange(6, dtype=np.int16).reshape(2, 3) - 2\n"
                    << "    f['g/be'] = np.array([1.25, -8], dtype='>f4')\n"
                    << "    f['u'] = np.array([1, 2**64 - 1], dtype=np.uint64)\n"
                    << "    f['half'] = np.array([0.5, 2], dtype=np.float16)\n"
                    << "    f['s'] = 'a string dataset'\n"
                    << "    f.attrs['name'] = 'h5py str'\n"
                    << "    f.attrs['fixed'] = np.bytes_(b'fixed  ')\n"
                    << "    f.attrs['flag'] = np.bool_(True)\n"
                    << "    f.attrs['n'] = np.uint32(7)\n"
                    << "    f.attrs['v'] = np.array([1.5, 2.5], dtype=np.float32)\n";
  ASSERT_EQ(run_python(py), 0) << slurp(py + ".log");
  const H5Reader r(path);
  EXPECT_EQ(r.read_u8("/m"), (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(r.read_i64("/g/h"), (std::vector<int64_t>{-2, -1, 0, 1, 2, 3}));
  EXPECT_EQ(r.shape("/g/h"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.read_f64("/g/be"), (std::vector<double>{1.25, -8}));
  EXPECT_EQ(r.read_f64("/half"), (std::vector<double>{0.5, 2}));
  test::expect_input_error([&] { r.read_i64("/u"); }, {"'/u'", "18446744073709551615", "index 1"});
  test::expect_input_error([&] { r.read_f64("/s"); }, {"'/s'", "string data"});
  EXPECT_EQ(r.children("/"), (std::vector<std::string>{"g", "half", "m", "s", "u"}));
  EXPECT_EQ(r.attr_string("/", "name"), "h5py str");
  EXPECT_EQ(r.attr_string("/", "fixed"), "fixed  ");
  EXPECT_TRUE(r.attr_bool("/", "flag"));
  EXPECT_EQ(r.attr_i64("/", "n"), 7);
  EXPECT_EQ(r.attr_f64_vector("/", "v"), (std::vector<double>{1.5, 2.5}));
}

}  // namespace
}  // namespace sp::io
