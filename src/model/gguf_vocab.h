#pragma once
// The tokenizer of a model folder as llama.cpp's GGUF metadata (tokenizer.ggml.*), read from the
// same files tok::Tokenizer::from_model_dir reads:
//  * tokenizer.json, SentencePiece-style BPE (metaspace "▁", byte fallback; LLaMA-2 / Mistral):
//    model "llama" (llama.cpp's SPM tokenizer, which merges the adjacent pair whose joined piece has
//    the highest score): each piece made by a merge scores -(merge rank), so merges apply in the
//    tokenizer.json order; other pieces score -1e9.
//  * tokenizer.json or vocab.json + merges.txt, byte-level BPE: model "gpt2" with the merges and
//    the pre-tokenizer name llama.cpp uses for the split pattern ("gpt-2", "llama-bpe", "qwen2");
//    any other pre-tokenizer is refused by name.
//  * llama2.c vocab.json ([piece, score] in id order): model "llama", the scores as written, spaces
//    spelled "▁" again, BOS / EOS pieces ("\n<s>\n") written "<s>" / "</s>".
// Token types: special added tokens CONTROL (<unk> UNKNOWN), other added tokens USER_DEFINED,
// <0xHH> byte pieces BYTE, holes up to the embedding rows UNUSED ("[PAD<id>]").
#include <string>

#include "io/gguf_writer.h"
#include "io/model_config.h"

namespace sp::model {

struct GgufVocabSummary {
  std::string model;  // "llama" or "gpt2"
  std::string pre;    // gpt2 only
  int tokens = 0;
};

// Adds the tokenizer.ggml.* keys. `c.vocab` (the embedding rows) must be >= the tokenizer's size.
GgufVocabSummary add_gguf_vocab(io::GgufWriter& w, const std::string& model_dir, const io::ModelConfig& c);

}  // namespace sp::model
