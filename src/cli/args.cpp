#include "cli/args.h"

#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <sstream>

#include "core/error.h"

namespace sp::cli {
namespace po = boost::program_options;

const char* to_string(Command c) {
  switch (c) {
    case Command::Prune:
      return "prune";
    case Command::Eval:
      return "eval";
    case Command::Generate:
      return "generate";
    case Command::Tokenize:
      return "tokenize";
    case Command::Bench:
      return "bench";
    case Command::Export:
      return "export";
  }
  return "?";
}

Args parse_args(int argc, const char* const* argv) {
  Args a;
  po::options_description opts("options");
  opts.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
      "config-reference", "print every configuration key (type, default, meaning) as Markdown and exit")(
      "set", po::value<std::vector<std::string>>(&a.overrides)->composing(),
      "override a config key: --set prune.sparsity=0.3 (value parsed as YAML; repeatable)")(
      "dry-run", "validate config, model and data, print the plan (shapes, groups, shards, memory); no compute")(
      "resume", "continue an interrupted run from the state in output.dir")("prompt", po::value<std::string>(&a.prompt),
                                                                            "generate: the prompt text")(
      "max-new-tokens", po::value<int>(&a.max_new_tokens), "generate: number of tokens to produce")(
      "baseline", po::value<std::string>(&a.baseline),
      "bench: also measure this model folder (the dense original) and print the speedups")(
      "format", po::value<std::string>(&a.format), "export: file format, gguf (llama.cpp)")(
      "out", po::value<std::string>(&a.out), "export: file to write (default output.dir/model.gguf)");
  po::options_description hidden;
  hidden.add_options()("positional", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("positional", -1);

  std::ostringstream help;
  help << "usage: struprune-dist [prune|eval|generate|tokenize|bench|export] CONFIG.yaml [--set key=value]... "
          "[--dry-run] [--resume]\n"
       << "  prune     (default) structured pruning of the model in CONFIG: pruned checkpoint, masks.h5, report.json\n"
       << "  eval      perplexity of the model on eval.datasets, written to output.dir/report.json\n"
       << "  generate  greedy continuation of --prompt\n"
       << "  tokenize  ids of eval.datasets and calibration.path to output.dir/<name>.npy, calibration.npy\n"
       << "  bench     prefill and decode throughput (tokens/s) of the model [and --baseline DIR], "
          "output.dir/bench.json\n"
       << "  export    model.path as one GGUF file for llama.cpp (--format gguf, --out PATH; tensor type output.gguf)\n"
       << "exit codes: 0 ok, 1 runtime failure, 2 input error\n\n"
       << opts;
  a.help_text = help.str();

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, const_cast<char**>(argv)).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw_input("command line: {} (see --help)", e.what());
  }
  a.help = vm.count("help") > 0;
  a.version = vm.count("version") > 0;
  a.config_reference = vm.count("config-reference") > 0;
  a.dry_run = vm.count("dry-run") > 0;
  a.resume = vm.count("resume") > 0;
  if (a.help || a.version || a.config_reference) return a;

  std::vector<std::string> p;
  if (vm.count("positional")) p = vm["positional"].as<std::vector<std::string>>();
  for (const Command c :
       {Command::Prune, Command::Eval, Command::Generate, Command::Tokenize, Command::Bench, Command::Export})
    if (!p.empty() && p[0] == to_string(c)) {
      a.command = c;
      p.erase(p.begin());
      break;
    }
  SP_REQUIRE(!p.empty(), "command line: missing CONFIG.yaml (see --help)");
  SP_REQUIRE(p.size() == 1, "command line: unexpected argument '{}' after the config file '{}' (see --help)", p[1],
             p[0]);
  a.config = p[0];
  SP_REQUIRE(a.format == "gguf", "command line: --format '{}' is not an export format (known: gguf)", a.format);
  SP_REQUIRE(a.max_new_tokens > 0, "command line: --max-new-tokens must be > 0, got {}", a.max_new_tokens);
  return a;
}

}  // namespace sp::cli
