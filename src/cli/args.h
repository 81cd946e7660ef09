#pragma once
// Command line: struprune-dist [prune|eval|generate|tokenize|bench|export] CONFIG.yaml [--set k=v]... [--dry-run]
//               [--resume] [--prompt TEXT] [--max-new-tokens N] [--baseline DIR] [--version] [--help]
//               [--config-reference] [--format gguf] [--out PATH]
// Parsed with Boost.Program_options. This and main.cpp are the only places that read argv.
#include <string>
#include <vector>

namespace sp::cli {

enum class Command { Prune, Eval, Generate, Tokenize, Bench, Export };

struct Args {
  Command command = Command::Prune;
  std::string config;
  std::vector<std::string> overrides;  // "key.path=value", in order
  bool dry_run = false;
  bool resume = false;
  bool version = false;
  bool help = false;
  bool config_reference = false;            // print the configuration keys as Markdown tables
  std::string prompt = "Once upon a time";  // generate
  int max_new_tokens = 32;                  // generate
  std::string baseline;                     // bench: a second checkpoint (the dense original) to compare with
  std::string format = "gguf";              // export: the file format (gguf)
  std::string out;                          // export: the file to write ("": output.dir/model.gguf)
  std::string help_text;                    // filled for --help and for usage errors
};

// Throws InputError for a bad command line (unknown option, missing CONFIG, extra positional).
Args parse_args(int argc, const char* const* argv);
const char* to_string(Command c);

}  // namespace sp::cli
