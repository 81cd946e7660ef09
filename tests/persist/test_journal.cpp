// The resume journal as untrusted input and as an optional output (issue 25). A real journal of
// stories260K (pass 1 and two layers done) is damaged one way at a time: every resume must be refused
// with "journal is damaged: <file>: <what>" naming the file and the fault, before anything is
// written, leaving the journal byte for byte as it was. A journal whose writes fail turns itself off
// and the prune still ends with every layer. Ranks that read different journals are refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "core/communicator.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "model/weight_source.h"
#include "persist/journal.h"
#include "test_util.h"
#include "tokenize/sampling.h"

namespace sp::persist {
namespace {
using namespace sp::prune;  // the pipeline's records the journal stores
namespace fs = std::filesystem;
using nlohmann::json;

std::string temp_dir(const std::string& tag) {
  const fs::path p = fs::temp_directory_path() / fmt::format("sp_journal_{}_{}", tag, ::getpid());
  fs::remove_all(p);
  return p.string();
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// Every file under `dir` with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) m[fs::relative(e.path(), dir).string()] = read(e.path());
  return m;
}

struct Stories {
  ExecContext ctx{Device::cpu()};
  std::unique_ptr<model::Model> model;
  RunSetup in;
  PruneOptions opt;
  JournalExpect expect;
  Journal::Dependencies inputs = {{"test", "journal"}};
  Stories() {
    const std::string dir = test::source_dir() + "/examples/stories260K";
    model = std::make_unique<model::Model>(model::open_checkpoint_source(dir), ctx, Precision::Exact32);
    auto tok = tok::Tokenizer::from_model_dir(dir);
    const data::DataSpec spec{test::source_dir() + "/examples/calib.txt", data::Format::Text};
    in.calibration = {"calibration", {}, 4, 64};
    for (const auto& w : data::sample_calibration(spec, tok.get(), 4, 64, 0, model->config().bos_token_id))
      in.calibration.ids.insert(in.calibration.ids.end(), w.begin(), w.end());
    in.batch = 4;
    in.output_dtype = DType::F32;
    opt.sparsity = 0.4;
    opt.attention = AttentionUnit::KvGroups;
    opt.obs_step = 1;
    expect = {model->config(), opt.attention, opt.mlp, in.output_dtype};
  }
  PruneResult run(Journal* j, int fail_at, int* sent = nullptr) {
    const LayerSink sink = [fail_at, sent](const LayerResult& r, const model::LayerWeights&) {
      if (r.layer == fail_at) throw RuntimeFailure("killed");
      if (sent) ++*sent;
    };
    return run_pipeline(*model, ctx, *make_self_communicator(), opt, in, sink, j);
  }
};

Stories& stories() {
  static Stories s;
  return s;
}

// output.dir of a run stopped at layer 2: .journal holds pass 1 and layers 0 and 1 (made once).
const std::string& pristine() {
  static const std::string dir = [] {
    const std::string d = temp_dir("pristine");
    Journal j(d, stories().inputs, false, true, stories().expect);
    EXPECT_THROW(stories().run(&j, 2), RuntimeFailure);
    return d;
  }();
  return dir;
}

// The tensors of a layer file, as host copies, to be changed and written back.
using Tensors = std::vector<std::pair<std::string, Tensor>>;
Tensors load_tensors(const fs::path& p) {
  const auto st = io::SafetensorsFile::open(p.string());
  Tensors t;
  for (const auto& e : st->entries()) t.emplace_back(e.name, st->view(e).to(Device::cpu()));
  return t;
}
Tensor& named(Tensors& t, const std::string& name) {
  for (auto& [n, x] : t)
    if (n == name) return x;
  throw std::runtime_error("no tensor " + name);
}

struct Damage {
  const char* name;
  const char* file;      // the file the error must name
  const char* fragment;  // and what it must say about it
  std::function<void(const fs::path& journal)> apply;
};

void edit_json(const fs::path& p, const std::function<void(json&)>& f) {
  json j = json::parse(read(p));
  f(j);
  write(p, j.dump(1));
}

const std::vector<Damage>& damages() {
  static const std::vector<Damage> d = {
      {"truncated safetensors", "layer_00001.safetensors", "out of range",
       [](const fs::path& j) {
         const std::string s = read(j / "layer_00001.safetensors");
         write(j / "layer_00001.safetensors", s.substr(0, s.size() / 2));
       }},
      {"wrong shape", "layer_00000.safetensors", "tensor 'o_weight' is F32",
       [](const fs::path& j) {
         Tensors t = load_tensors(j / "layer_00000.safetensors");
         Tensor& o = named(t, "o_weight");
         o = Tensor::zeros({o.dim(0), o.dim(1) - 1}, o.dtype(), Device::cpu());
         io::write_safetensors((j / "layer_00000.safetensors").string(), t);
       }},
      {"mask value 2", "layer_00001.safetensors", "not 0 or 1",
       [](const fs::path& j) {
         Tensors t = load_tensors(j / "layer_00001.safetensors");
         auto* k = static_cast<uint8_t*>(named(t, "mlp_keep").raw());
         for (int i = 0;; ++i)
           if (k[i] == 1) {
             k[i] = 2;
             break;
           }
         io::write_safetensors((j / "layer_00001.safetensors").string(), t);
       }},
      {"mask against the allocation", "layer_00000.safetensors", "the allocation removes",
       [](const fs::path& j) {
         Tensors t = load_tensors(j / "layer_00000.safetensors");
         auto* k = static_cast<uint8_t*>(named(t, "mlp_keep").raw());
         for (int i = 0;; ++i)
           if (k[i] == 0) {
             k[i] = 1;
             break;
           }
         io::write_safetensors((j / "layer_00000.safetensors").string(), t);
       }},
      {"mask missing", "layer_00000.safetensors", "tensor 'attention_keep' is missing",
       [](const fs::path& j) {
         Tensors t = load_tensors(j / "layer_00000.safetensors");
         std::erase_if(t, [](const auto& x) { return x.first == "attention_keep"; });
         io::write_safetensors((j / "layer_00000.safetensors").string(), t);
       }},
      {"unknown tensor", "layer_00001.safetensors", "unexpected tensor 'extra'",
       [](const fs::path& j) {
         Tensors t = load_tensors(j / "layer_00001.safetensors");
         t.emplace_back("extra", Tensor::zeros({2}, DType::F32, Device::cpu()));
         io::write_safetensors((j / "layer_00001.safetensors").string(), t);
       }},
      {"missing JSON key", "layer_00000.json", "missing key 'removed_params'",
       [](const fs::path& j) { edit_json(j / "layer_00000.json", [](json& x) { x.erase("removed_params"); }); }},
      {"JSON type", "layer_00001.json", "'layer' is not an integer",
       [](const fs::path& j) { edit_json(j / "layer_00001.json", [](json& x) { x["layer"] = "1"; }); }},
      {"layer index", "layer_00000.json", "holds layer 1, expected layer 0",
       [](const fs::path& j) {
         fs::copy_file(j / "layer_00001.json", j / "layer_00000.json", fs::copy_options::overwrite_existing);
       }},
      {"shape against the masks", "layer_00001.json", "does not follow from the keep masks",
       [](const fs::path& j) { edit_json(j / "layer_00001.json", [](json& x) { x["shape"][2] = 7; }); }},
      {"not JSON", "layer_00001.json", "parse error",
       [](const fs::path& j) { write(j / "layer_00001.json", "{\"layer\": 1,"); }},
      {"allocation blocks", "pass1.json", "'removed' must list 10 blocks",
       [](const fs::path& j) { edit_json(j / "pass1.json", [](json& x) {
                                 x["allocation"]["removed"] = {1, 2};
                               }); }},
      {"non-finite spelled wrong", "pass1.json", "'lambda' is not a number",
       [](const fs::path& j) { edit_json(j / "pass1.json", [](json& x) { x["allocation"]["lambda"] = ""; }); }},
      {"inputs not a map of strings", "inputs.json", "inputs['test'] is not a string",
       [](const fs::path& j) { edit_json(j / "inputs.json", [](json& x) { x["inputs"]["test"] = 3; }); }},
      {"unknown format", "inputs.json", "format 9 is not one this version reads",
       [](const fs::path& j) { edit_json(j / "inputs.json", [](json& x) { x["format"] = 9; }); }},
  };
  return d;
}

TEST(Journal, ThePristineJournalResumes) {
  Journal j(pristine(), stories().inputs, true, false, stories().expect);
  ASSERT_TRUE(j.pass1().has_value());
  EXPECT_EQ(j.layers_done(), 2);
}

// A refinement whose measured KL is not finite (a diverged candidate) is journalled as the other
// numbers are ("nan", "inf") and read back, not written as JSON's null and refused on resume.
TEST(Journal, ANonFiniteRefineKlResumes) {
  prune::Pass1Record p = *Journal(pristine(), stories().inputs, true, false, stories().expect).pass1();
  prune::RefineReport rr;
  rr.windows = 8;
  rr.seqlen = 64;
  rr.start_removed = rr.removed = p.allocation.removed;
  prune::RefineRound round;
  round.kl = std::nan("");
  round.moves = 1;
  round.candidates = {{1, INFINITY}};
  rr.rounds = {round};
  p.refine = rr;
  const std::string d = temp_dir("refine_nan");
  {
    Journal w(d, stories().inputs, false, true, stories().expect);
    w.save_pass1(p);
  }
  Journal r(d, stories().inputs, true, false, stories().expect);
  ASSERT_TRUE(r.pass1().has_value() && r.pass1()->refine.has_value());
  ASSERT_EQ(r.pass1()->refine->rounds.size(), 1u);
  EXPECT_TRUE(std::isnan(r.pass1()->refine->rounds[0].kl));
  EXPECT_EQ(r.pass1()->refine->rounds[0].candidates.at(0).second, INFINITY);
}

TEST(Journal, DamagedFilesAreRefusedAndLeftAsTheyAre) {
  for (const Damage& d : damages()) {
    SCOPED_TRACE(d.name);
    const std::string dir = temp_dir("damaged");
    fs::copy(pristine(), dir, fs::copy_options::recursive);
    d.apply(fs::path(dir) / ".journal");
    const auto before = snapshot(dir);
    const std::string e = test::input_error([&] { Journal(dir, stories().inputs, true, true, stories().expect); });
    const std::string file = (fs::path(dir) / ".journal" / d.file).string();
    EXPECT_NE(e.find("journal is damaged: " + file + ": "), std::string::npos) << e;
    EXPECT_NE(e.find(d.fragment), std::string::npos) << e;
    EXPECT_EQ(snapshot(dir), before) << "the damaged journal was changed";
    fs::remove_all(dir);
  }
}

// A journal whose files cannot be written (a folder in the way of the temporary file: fails as root
// too) turns itself off and removes what it wrote; the prune still hands every layer to the sink,
// and a later --resume finds no journal and starts over.
TEST(Journal, AFailedWriteTurnsTheJournalOffAndThePruneGoesOn) {
  for (const char* blocked : {"pass1.json", "layer_00000.safetensors", "layer_00003.json"}) {
    SCOPED_TRACE(blocked);
    const std::string dir = temp_dir("unwritable");
    Journal j(dir, stories().inputs, false, true, stories().expect);
    fs::create_directories(fs::path(dir) / ".journal" / fmt::format("{}.tmp.{}", blocked, ::getpid()) / "x");
    int sent = 0;
    const PruneResult r = stories().run(&j, -1, &sent);
    EXPECT_EQ(sent, stories().model->config().n_layers);
    EXPECT_EQ(r.layers.size(), size_t(stories().model->config().n_layers));
    EXPECT_FALSE(j.writing());
    EXPECT_FALSE(fs::exists(fs::path(dir) / ".journal"));
    Journal again(dir, stories().inputs, true, false, stories().expect);
    EXPECT_FALSE(again.pass1().has_value());
    fs::remove_all(dir);
  }
}

// Two ranks, each with its own view of the journal (the communicator fakes the peer's).
class TwoRanks : public Communicator {
 public:
  explicit TwoRanks(std::string peer) : peer_(std::move(peer)) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string backend() const override { return "fake"; }
  void allreduce_sum(std::span<double>) override {}
  void allreduce_sum(std::span<int64_t>) override {}
  void allreduce_max(std::span<double>) override {}
  void broadcast(std::span<uint8_t>, int) override {}
  std::vector<std::string> allgather(const std::string& mine) override { return {mine, peer_}; }
  void barrier() override {}
  [[noreturn]] void abort(int) override { std::abort(); }

 private:
  std::string peer_;
};

TEST(Journal, RanksThatReadDifferentJournalsAreRefused) {
  Journal j(pristine(), stories().inputs, true, false, stories().expect);
  EXPECT_NE(j.summary().find("pass 1 done, 2 layer(s) done"), std::string::npos) << j.summary();
  TwoRanks same(j.summary());
  EXPECT_NO_THROW(require_same_journal(same, j));
  const std::string fresh = temp_dir("fresh");
  Journal none(fresh, stories().inputs, true, false, stories().expect);  // a node that sees no journal
  TwoRanks other(none.summary());
  const std::string e = test::input_error([&] { require_same_journal(other, j); });
  EXPECT_NE(e.find("the ranks see different resume journals"), std::string::npos) << e;
  EXPECT_NE(e.find("rank 1: pass 1 not done, 0 layer(s) done"), std::string::npos) << e;
}

// The fuzzer's seeds (ok_*: must read) and crafted or found damage (damaged_*: must be refused as
// damaged, never crash), replayed from tests/fuzz_regressions/journal/ (fuzz/fuzz_journal.cpp).
TEST(Journal, FuzzSeedsReadAndDamagedInputsAreRefused) {
  const fs::path dir = fs::path(test::source_dir()) / "tests/fuzz_regressions/journal";
  int ok = 0, damaged = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    SCOPED_TRACE(e.path().string());
    const std::string bytes = read(e.path());
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    if (e.path().filename().string().rfind("ok_", 0) == 0) {
      EXPECT_NO_THROW(parse_journal_fuzz_input(data, bytes.size()));
      ++ok;
    } else {
      const std::string m = test::input_error([&] { parse_journal_fuzz_input(data, bytes.size()); });
      EXPECT_EQ(m.rfind("journal is damaged: ", 0), 0u) << m;
      ++damaged;
    }
  }
  EXPECT_GE(ok, 4);
  EXPECT_GE(damaged, 8);
}

}  // namespace
}  // namespace sp::persist
