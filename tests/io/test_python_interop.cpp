// Interop with Hugging Face's own safetensors package (skipped when `import safetensors, numpy`
// fails; $STRUPRUNE_PYTHON picks the interpreter, default python3): a file written by Python is
// read here and re-written byte-identically; a file written here (with bf16) is read by Python.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "io/safetensors.h"
#include "io_test_util.h"

namespace sp::io {
namespace {

std::string python() {
  const char* p = std::getenv("STRUPRUNE_PYTHON");
  return p && *p ? p : "python3";
}

// Runs a Python script file; returns its exit status.
int run_python(const std::string& script_path) {
  const std::string cmd = python() + " " + script_path + " > " + script_path + ".log 2>&1";
  return std::system(cmd.c_str());
}

bool have_safetensors() {
  const std::string cmd = python() + " -c 'import safetensors, numpy' > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(PythonInterop, ReadAndRewriteHuggingFaceFile) {
  if (!have_safetensors()) GTEST_SKIP() << python() << " lacks safetensors/numpy";
  test::ScratchDir d;
  const std::string py = d / "w.py", out = d / "py.safetensors", mine = d / "cpp.safetensors";
  std::ofstream(py)
      << "import numpy as np\nfrom safetensors.numpy import save_file\n"
      << "t = {'w': (np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1),\n"
      << "     'h': np.array([1.5, -2, 65504], dtype=np.float16),\n"
      << "     'ids': np.array([[3], [-7]], dtype=np.int64), 'm': np.array([1, 0, 255], dtype=np.uint8)}\n"
      << "save_file(t, '" << out << "', metadata={'format': 'pt'})\n";
  ASSERT_EQ(run_python(py), 0) << slurp(py + ".log");
  auto f = SafetensorsFile::open(out);
  ASSERT_EQ(f->entries().size(), 4u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  const Tensor w = f->view(*f->find("w"));
  EXPECT_EQ(w.shape(), (Shape{2, 3}));
  EXPECT_EQ(w.to_f32_vector(), (std::vector<float>{-1.f, -0.5f, 0.f, 0.5f, 1.f, 1.5f}));
  EXPECT_EQ(f->view(*f->find("h")).to_f32_vector(), (std::vector<float>{1.5f, -2.f, 65504.f}));
  EXPECT_EQ(f->view(*f->find("ids")).data<int64_t>()[1], -7);
  EXPECT_EQ(f->view(*f->find("m")).data<uint8_t>()[2], 255);

  std::vector<std::pair<std::string, Tensor>> ts;
  for (const auto& e : f->entries()) ts.emplace_back(e.name, f->view(e));
  write_safetensors(mine, ts, {{"format", "pt"}});
  EXPECT_EQ(test::read_bytes(mine), test::read_bytes(out));
}

TEST(PythonInterop, PythonReadsOurFile) {
  if (!have_safetensors()) GTEST_SKIP() << python() << " lacks safetensors/numpy";
  test::ScratchDir d;
  const std::string path = d / "model.safetensors", py = d / "r.py";
  Tensor b = Tensor::empty({2, 2}, DType::BF16);
  const float bv[] = {1.f, -2.5f, 0.15625f, 3e38f};
  for (int i = 0; i < 4; ++i) b.data<uint16_t>()[i] = f32_to_bf16(bv[i]);
  write_safetensors(path, {{"layers.0.w", b}, {"bias", Tensor::from_f32({0.25f, -8.f, 1e-3f}, {3})}},
                    {{"format", "pt"}});
  // deserialize() gives raw bytes, so bf16 (which numpy lacks) is checked by its bits.
  std::ofstream(py) << "import numpy as np\nfrom safetensors import deserialize, safe_open\n"
                    << "raw = dict(deserialize(open('" << path << "', 'rb').read()))\n"
                    << "w = raw['layers.0.w']\nassert w['dtype'] == 'BF16' and list(w['shape']) == [2, 2], w\n"
                    << "bits = np.frombuffer(bytes(w['data']), dtype='<u2').astype(np.uint32) << 16\n"
                    << "vals = bits.view(np.float32).tolist()\n"
                    << "assert vals[:3] == [1.0, -2.5, 0.15625] and abs(vals[3] - 3e38) < 3e36, vals\n"
                    << "with safe_open('" << path << "', framework='numpy') as f:\n"
                    << "    assert f.metadata() == {'format': 'pt'}\n"
                    << "    b = f.get_tensor('bias')\n"
                    << "assert b.dtype == np.float32 and b.tolist() == [0.25, -8.0, np.float32(1e-3)], b\n"
                    << "print('ok')\n";
  ASSERT_EQ(run_python(py), 0) << slurp(py + ".log");
}

}  // namespace
}  // namespace sp::io
