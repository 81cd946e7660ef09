// `struprune-dist eval` end to end in-process (config -> model -> report.json) on the shared
// ref-llama, against Hugging Face's first-window NLL in reference.json.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <numeric>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/config_schema.h"
#include "test_util.h"

namespace sp::cli {
namespace {
namespace fs = std::filesystem;

TEST(EvalCommand, FirstHeldoutWindowMatchesTransformers) {
  SP_REQUIRE_SHARED(model, "models/ref-llama");
  SP_REQUIRE_SHARED(heldout, "data/refcorpus/heldout-eval.txt");
  const auto ref = test::read_json(model + "/reference.json");
  const auto nll = ref["heldout_eval_first_window_nll_fp32"].get<std::vector<double>>();
  const double want = std::exp(std::accumulate(nll.begin(), nll.end(), 0.0) / double(nll.size()));

  const fs::path out = fs::temp_directory_path() / ("sp_eval_" + std::to_string(::getpid()));
  const Config cfg = load_config(test::source_dir() + "/configs/ref-llama.yaml",
                                 {"model.path=" + model, "runtime.device=cpu", "runtime.precision=fp32",
                                  "eval.datasets=[{name: heldout, path: '" + heldout + "', format: text}]",
                                  "eval.max_windows=1", "output.dir=" + out.string()});
  Args args;
  args.command = Command::Eval;
  auto self = make_self_communicator();
  Communicator& comm = *self;
  ASSERT_EQ(run_command(args, cfg, comm, 0), 0);
  const auto report = test::read_json((out / "report.json").string());
  const auto& h = report["eval"]["heldout"];
  EXPECT_EQ(h["windows"].get<int>(), 1);
  EXPECT_EQ(h["scored_tokens"].get<int>(), 1023);
  const double got = h["perplexity"].get<double>();
  std::printf("  first heldout window: ppl %.6f, transformers %.6f\n", got, want);
  EXPECT_NEAR(got, want, 1e-4 * want);
  fs::remove_all(out);
}

}  // namespace
}  // namespace sp::cli
