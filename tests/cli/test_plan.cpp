// Dry-run plan: layer shards, parameter counts (against the published counts of real models and
// the shared checkpoints' own index metadata), group counts and the memory estimate formula.
#include <gtest/gtest.h>

#include <set>

#include "cli/plan.h"
#include "core/error.h"
#include "core/ranges.h"
#include "io/model_config.h"
#include "test_util.h"

namespace sp::cli {
namespace {

io::ModelConfig llama_like(const char* type, int hidden, int layers, int heads, int kv, int ff, int vocab, int ctx,
                           bool tied, bool qkv_bias) {
  io::ModelConfig m;
  m.model_type = type;
  m.family = io::ArchFamily::Llama;
  m.hidden = hidden;
  m.n_layers = layers;
  m.vocab = vocab;
  m.head_dim = hidden / heads;
  m.max_positions = ctx;
  m.tie_embeddings = tied;
  m.qkv_bias = qkv_bias;
  m.layers.assign(size_t(layers), io::LayerShape{heads, kv, ff});
  return m;
}

io::ModelConfig opt_1_3b() {
  io::ModelConfig m = llama_like("opt", 2048, 24, 32, 32, 8192, 50272, 2048, true, true);
  m.family = io::ArchFamily::Opt;
  m.position_offset = 2;
  m.o_bias = m.mlp_bias = true;
  return m;
}

TEST(Plan, ShardsAreContiguousBalancedAndCoverEveryLayerOnce) {
  for (int layers = 1; layers <= 40; ++layers) {
    for (int ranks = 1; ranks <= 9; ++ranks) {
      const auto s = balanced_ranges(layers, ranks);
      ASSERT_EQ(int(s.size()), ranks);
      int next = 0, lo = layers, hi = 0;
      for (const auto& [first, n] : s) {
        EXPECT_EQ(first, next) << layers << " layers, " << ranks << " ranks";
        next += n;
        lo = std::min(lo, n);
        hi = std::max(hi, n);
      }
      EXPECT_EQ(next, layers);
      EXPECT_LE(hi - lo, 1);
    }
  }
  EXPECT_EQ(balanced_ranges(8, 3), (std::vector<std::pair<int, int>>{{0, 3}, {3, 3}, {6, 2}}));
}

// Published parameter counts (Hugging Face num_parameters() of the released checkpoints).
TEST(Plan, ParameterCountsMatchPublishedModels) {
  EXPECT_EQ(prune::count_model_params(llama_like("llama", 4096, 32, 32, 32, 11008, 32000, 4096, false, false)),
            6'738'415'616);  // meta-llama/Llama-2-7b-hf
  EXPECT_EQ(prune::count_model_params(llama_like("mistral", 4096, 32, 32, 8, 14336, 32000, 32768, false, false)),
            7'241'732'096);  // mistralai/Mistral-7B-v0.1
  EXPECT_EQ(prune::count_model_params(llama_like("qwen2", 3584, 28, 28, 4, 18944, 152064, 32768, false, true)),
            7'615'616'512);                                         // Qwen/Qwen2-7B
  EXPECT_EQ(prune::count_model_params(opt_1_3b()), 1'315'758'080);  // facebook/opt-1.3b
}

// configs/models/*/config.json (the published architecture files the example configs use) parse
// and give the published parameter counts.
TEST(Plan, ShippedArchitectureFilesMatchPublishedCounts) {
  const std::vector<std::pair<const char*, int64_t>> want = {{"llama-2-7b", 6'738'415'616},
                                                             {"mistral-7b-v0.1", 7'241'732'096},
                                                             {"qwen2-7b", 7'615'616'512},
                                                             {"opt-1.3b", 1'315'758'080}};
  for (const auto& [name, n] : want) {
    const auto m = io::load_model_config(test::source_dir() + "/configs/models/" + name + "/config.json");
    EXPECT_EQ(prune::count_model_params(m), n) << name;
  }
}

// The shared checkpoints record their size in model.safetensors.index.json.
TEST(Plan, ParameterCountsMatchSharedCheckpoints) {
  for (const char* name : {"ref-llama", "ref-opt"}) {
    SP_REQUIRE_SHARED(dir, std::string("models/") + name);
    const auto m = io::load_model_config(dir + "/config.json");
    const auto idx = test::read_json(dir + "/model.safetensors.index.json");
    EXPECT_EQ(prune::count_model_params(m), idx["metadata"]["total_parameters"].get<int64_t>()) << name;
  }
}

TEST(Plan, GroupsPerAttentionUnit) {
  const auto mistral = llama_like("mistral", 4096, 32, 32, 8, 14336, 32000, 32768, false, false);
  const auto kv = prune::layer_groups(mistral, 0, AttentionUnit::KvGroups, true);
  EXPECT_EQ(kv.attention_units, 8);
  EXPECT_EQ(kv.params_per_attention_unit, (2 * 4 + 2) * 128 * 4096);  // 4 q + o heads, k, v
  EXPECT_EQ(kv.mlp_units, 14336);
  EXPECT_EQ(kv.params_per_mlp_unit, 3 * 4096);
  const auto q = prune::layer_groups(mistral, 0, AttentionUnit::QueryPerGroup, false);
  EXPECT_EQ(q.attention_units, 4);
  EXPECT_EQ(q.params_per_attention_unit, 8 * 2 * 128 * 4096);
  EXPECT_EQ(q.mlp_units, 0);
  // Units of a full removal add up to the attention block minus o_proj's bias (none here).
  EXPECT_EQ(int64_t(kv.attention_units) * kv.params_per_attention_unit,
            int64_t(q.attention_units) * q.params_per_attention_unit + 2 * 8 * 128 * 4096);
  EXPECT_THROW(prune::layer_groups(mistral, 0, AttentionUnit::Heads, true), InputError);
  // k / v stay under query_per_group but count in the prunable total: a sparsity is the same share of
  // q, k, v, o (and the MLP) whatever the unit.
  EXPECT_EQ(kv.fixed_params, 0);
  EXPECT_EQ(q.fixed_params, 2 * 8 * 128 * 4096);
  EXPECT_EQ(q.prunable_params(), 2 * 4096 * 4096 + 2 * 4096 * 1024);  // q, o; k, v (no MLP asked)
  EXPECT_EQ(q.removable_params(), 2 * 4096 * 4096);
  EXPECT_EQ(prune::layer_groups(mistral, 0, AttentionUnit::QueryPerGroup, true).prunable_params(),
            kv.prunable_params());

  const auto opt = opt_1_3b();
  const auto h = prune::layer_groups(opt, 0, AttentionUnit::Heads, true);
  EXPECT_EQ(h.attention_units, 32);
  EXPECT_EQ(h.params_per_attention_unit, 4 * 64 * 2048 + 3 * 64);
  EXPECT_EQ(h.params_per_mlp_unit, 2 * 2048 + 1);
  EXPECT_THROW(prune::layer_groups(opt, 0, AttentionUnit::QueryPerGroup, true), InputError);
}

// Memory model (cli/memory_model.cpp) on LLaMA-2-7B, fp16, structprune defaults (normalize kl),
// 128 x 2048 calibration tokens in batches of 8, 4 ranks, computed here by hand.
TEST(Plan, MemoryEstimateFormula) {
  Config cfg = default_config();
  cfg.runtime.device = DeviceType::CUDA;  // checkpoint layers are read ahead into host staging
  cfg.runtime.precision = Precision::F16;
  cfg.calibration.nsamples = 128;
  cfg.calibration.batch = 8;
  cfg.prune.structures.attention = AttentionUnit::Heads;
  cfg.prune.probe_windows = 4;
  const auto m = llama_like("llama", 4096, 32, 32, 32, 11008, 32000, 4096, false, false);
  const Plan p = make_plan(cfg, m, 4);
  EXPECT_EQ(p.calib_seqlen, 2048);
  EXPECT_EQ(p.eval_seqlen, 4096);
  ASSERT_EQ(p.shards.size(), 4u);
  const int64_t n2a = 4096ll * 4096, n2m = 11008ll * 11008, rows = 8ll * 2048;
  for (const auto& s : p.shards) {
    EXPECT_EQ(s.calib_windows, 32);  // 16 batches of 8 windows, 4 per rank
    EXPECT_EQ(s.probe_windows, 1);   // 4 probe windows, one per rank
    const auto& e = s.memory;
    EXPECT_EQ(e.globals, 2ll * 32000 * 4096 * 2 + 2 * 4096 * 2);  // embeddings + untied LM head + final norm
    EXPECT_EQ(e.layer, 202'383'360ll * 2);
    EXPECT_EQ(e.calib_states, 32ll * 2048 * 4096 * 2);
    EXPECT_EQ(e.dense_states, 0);                                 // refit_target pruned: one stream
    EXPECT_EQ(e.probe_states, 65ll * 1 * 2048 * 4096 * 2);        // the probe + 64 perturbed copies
    EXPECT_EQ(e.activations, rows * (2 * 4096 + 3 * 11008) * 2);  // the MLP half: gate, up, product
    EXPECT_EQ(e.tap_activations, rows * (2 * 4096 + 11008) * 2);  // at mlp_down_in: the product
    // Pass 1's statistics: both Grams' accumulators (3 limbs a value of the lower triangle, + 1); the
    // largest moment is reading them back, with both F64 Grams made (adding a batch only needs the
    // fp32 column block of [11008, 1376] on top).
    const int64_t accs = (3 * (4096ll * 4097 / 2) + 1) * 8 + (3 * (11008ll * 11009 / 2) + 1) * 8;
    EXPECT_EQ(e.stats1_adding, accs + (n2a + n2m) * 8);
    EXPECT_GT(e.stats1_adding, accs + 11008ll * 1376 * 4);
    // Pass 1's curves: both F64 Grams, the MLP's inverse (made and compacted in place), the two
    // [1024, n] factors of the updates the greedy holds (obs.cpp), its F64 weights, and a compaction's
    // chunk of 2^22 / 11008 = 381 rows, whole and then their kept columns (at most all of them).
    const int64_t gather = 381ll * (11008 + 11008) * 8;
    EXPECT_EQ(e.stats1_solving, (n2a + n2m) * 8 + n2m * 8 + 2 * 1024ll * 11008 * 8 + 4096ll * 11008 * 8 + gather);
    // Pass 2, the MLP refit bound (every column kept): the Gram, then the refit's largest step, here
    // the first: the F64 weights, the cross block [n, k], the product and the kept weights [out, k]
    // (above the kept Gram with the two [out, k] and a gather: n x k + out x n > k x k + gather).
    EXPECT_EQ(e.stats2_solving, n2m * 8 + (4096ll * 11008 + n2m + 2 * 4096ll * 11008) * 8);
    // KL chunks of 32 Mi / 32000 = 1048 rows: two logits and one normed block in fp16, fp32 divergences.
    EXPECT_EQ(e.kl_logits, 1048ll * (2 * 32000 + 4096) * 2 + 1048 * 4);
    EXPECT_EQ(e.pass1(), e.globals + e.calib_states + e.probe_states +
                             std::max({e.layer + e.activations, e.layer + e.tap_activations + e.stats1_adding,
                                       e.layer + e.stats1_solving, e.kl_logits}));
    EXPECT_EQ(e.peak(), std::max(e.pass1(), e.pass2()) + (1 << 20));  // + 1 MiB of small tensors
    EXPECT_FALSE(e.read_ahead);
  }
  // On the CPU the next layer is read ahead into host tensors of the compute device: pass 1 holds two.
  cfg.runtime.device = DeviceType::CPU;
  const MemoryEstimate c = make_plan(cfg, m, 4).shards[0].memory;
  EXPECT_TRUE(c.read_ahead);
  EXPECT_EQ(c.pass1(), c.globals + c.calib_states + c.probe_states +
                           std::max({2 * c.layer + c.activations, 2 * c.layer + c.tap_activations + c.stats1_adding,
                                     2 * c.layer + c.stats1_solving, c.kl_logits}));
  cfg.model.synthetic = true;  // made on the device: nothing read ahead
  EXPECT_FALSE(make_plan(cfg, m, 4).shards[0].memory.read_ahead);
  cfg.model.synthetic = false;
  cfg.runtime.device = DeviceType::CUDA;
  // prunable: 32 layers x (32 heads x 4*128*4096 + 11008 neurons x 3*4096); target = half.
  EXPECT_EQ(p.prunable_params, 32ll * (32ll * 4 * 128 * 4096 + 11008ll * 3 * 4096));
  EXPECT_EQ(p.target_remove, p.prunable_params / 2);

  // fp32 activations form the products in F64 from F64 copies of the batch.
  Config wide = cfg;
  wide.runtime.precision = Precision::Exact32;
  EXPECT_EQ(make_plan(wide, m, 4).shards[0].memory.stats1_adding,
            (3 * (4096ll * 4097 / 2) + 1) * 8 + (3 * (11008ll * 11009 / 2) + 1) * 8 + n2m * 8 + rows * 11008 * 8);
  // More ranks: a smaller share of the windows each.
  EXPECT_LT(make_plan(cfg, m, 8).shards[0].memory.calib_states, p.shards[0].memory.calib_states);

  // A budget above the estimate keeps the batch. Below it the batch halves until every rank fits
  // (32 -> 16 here, where a batch's activations are the largest term: they halve); below what one
  // window per forward needs, the run is refused before anything runs.
  const double gib = double(1ll << 30);
  cfg.calibration.batch = 32;
  const Plan p32 = make_plan(cfg, m, 4);
  const double peak_gib = double(p32.shards[0].memory.peak()) / gib;
  cfg.runtime.memory_budget_gb = peak_gib * 1.01;
  EXPECT_EQ(make_plan(cfg, m, 4).calib_batch, 32);
  cfg.runtime.memory_budget_gb = peak_gib * 0.99;
  const Plan halved = make_plan(cfg, m, 4);
  EXPECT_EQ(halved.calib_batch, 16);
  EXPECT_EQ(halved.shards[0].memory.activations, p32.shards[0].memory.activations / 2);
  EXPECT_LE(double(halved.shards[0].memory.peak()), peak_gib * 0.99 * gib);
  EXPECT_NE(format_plan(halved).find("calibration.batch 32 -> 16"), std::string::npos) << format_plan(halved);
  cfg.calibration.batch = 1;
  const double one_gib = double(make_plan(cfg, m, 4).shards[0].memory.peak()) / gib;
  cfg.calibration.batch = 8;
  cfg.runtime.memory_budget_gb = one_gib * 0.99;
  // Below what one window per forward needs with the states on the device, they move to host memory
  // (runtime.hidden_states auto), the KL probes' copies with them: no device memory for them, and the
  // batch starts again from 8 (which fits now, more than the 1 that did not fit on the device).
  const Plan host = make_plan(cfg, m, 4);
  EXPECT_TRUE(host.host_states);
  EXPECT_EQ(host.calib_batch, 8);
  EXPECT_EQ(host.shards[0].memory.calib_states, 0);
  EXPECT_EQ(host.shards[0].memory.eval_states, 0);
  EXPECT_EQ(host.shards[0].memory.probe_states, 0);
  EXPECT_LE(double(host.peak_shard().memory.peak()), one_gib * 0.99 * gib);
  EXPECT_NE(format_plan(host).find("hidden states in host memory"), std::string::npos) << format_plan(host);
  // Kept on the device by the config, the same budget is refused before anything runs.
  cfg.runtime.hidden_states = model::Residence::Device;
  const std::string e = test::input_error([&] { make_plan(cfg, m, 4); });
  EXPECT_NE(e.find("memory_budget_gb"), std::string::npos) << e;
  EXPECT_NE(e.find("batches of 1 window(s) with the hidden states in device memory"), std::string::npos) << e;
  // Asked for, host memory is used with or without a budget.
  cfg.runtime.hidden_states = model::Residence::Host;
  cfg.runtime.memory_budget_gb = 0;
  EXPECT_TRUE(make_plan(cfg, m, 4).host_states);
  // Below even the host-resident estimate of one window: refused, naming host memory.
  cfg.runtime.hidden_states = std::nullopt;
  cfg.calibration.batch = 1;
  cfg.runtime.hidden_states = model::Residence::Host;
  const double host_one_gib = double(make_plan(cfg, m, 4).peak_shard().memory.peak()) / gib;
  cfg.runtime.hidden_states = std::nullopt;
  cfg.runtime.memory_budget_gb = host_one_gib * 0.99;
  const std::string e2 = test::input_error([&] { make_plan(cfg, m, 4); });
  EXPECT_NE(e2.find("with the hidden states in host memory"), std::string::npos) << e2;
}

// Disk at the end of a prune of LLaMA-2-7B (bf16) at 50%, by hand: what is kept (globals 2 x 32000 x
// 4096 + 4096, 32 layers of 202,383,360, half of the 6,476,005,376 prunable parameters removed) in the
// output dtype; the journal holds the layers only: the norms (2 x 4096 a layer), of the kept prunable
// weights at most the consumers' larger share (a neuron's down_proj column, 4096 of its 12288; a
// head's o_proj columns are 1/4 of it), or all of them when the producers are refit, plus 9 bytes
// (mask + score) per unit (32 + 11008).
TEST(Plan, DiskOfTheCheckpointAndTheJournal) {
  Config cfg = default_config();
  cfg.prune.sparsity = 0.5;
  cfg.output.dir = "/some/where";
  io::ModelConfig m = llama_like("llama", 4096, 32, 32, 32, 11008, 32000, 4096, false, false);
  m.weight_dtype = DType::BF16;
  const Plan p = make_plan(cfg, m, 1);
  const int64_t globals = 2ll * 32000 * 4096 + 4096, total = globals + 32ll * 202'383'360;
  const int64_t kept = total - 6'476'005'376ll / 2;
  EXPECT_EQ(p.disk_checkpoint, kept * 2);
  const int64_t norms = 32ll * 2 * 4096, units = 32ll * (32 + 11008);
  EXPECT_EQ(p.disk_journal, (6'476'005'376ll / 2 / 3 + norms) * 2 + units * 9);
  EXPECT_NE(format_plan(p).find("resume journal 2.01 GiB"), std::string::npos) << format_plan(p);
  Config refit = cfg;
  refit.prune.refit_producers = true;
  EXPECT_EQ(make_plan(refit, m, 1).disk_journal, (kept - globals) * 2 + units * 9);
  // Enough room passes; a byte less is refused, naming the folder and the ways out.
  EXPECT_NO_THROW(check_disk(cfg, p, p.disk_checkpoint + p.disk_journal));
  const auto io_error = [](auto&& f) { return test::error_of<IoError>(f); };
  const std::string e = io_error([&] { check_disk(cfg, p, p.disk_checkpoint + p.disk_journal - 1); });
  for (const char* s : {"/some/where", "output.journal: false", "output.checkpoint: none", "8.53 GiB"})
    EXPECT_NE(e.find(s), std::string::npos) << s << " in: " << e;
  // A resumed run needs what it has still to write: the bytes already on disk count (issue 25).
  const int64_t need = p.disk_checkpoint + p.disk_journal;
  EXPECT_NO_THROW(check_disk(cfg, p, need - 1000, 1000));
  const std::string r = io_error([&] { check_disk(cfg, p, need - 1001, 1000); });
  EXPECT_NE(r.find("1000 bytes of it already written"), std::string::npos) << r;
  cfg.output.dtype = DType::F32;
  EXPECT_EQ(make_plan(cfg, m, 1).disk_checkpoint, kept * 4);
  cfg.output.checkpoint = CheckpointForm::Dense;  // masked zeros, stock shapes
  EXPECT_EQ(make_plan(cfg, m, 1).disk_checkpoint, total * 4);
  cfg.output.checkpoint = CheckpointForm::None;
  cfg.output.journal = false;
  EXPECT_EQ(make_plan(cfg, m, 1).disk_checkpoint + make_plan(cfg, m, 1).disk_journal, 0);
}

// Host memory of LLaMA-2-7B (bf16 checkpoint) pruned on GPUs in fp16 by 4 ranks, 2 a node, with the
// hidden states in host memory, by hand. Every rank: the 40 MiB baseline; two read-ahead slabs of a
// layer (202,383,360 parameters x 2 bytes, each of its 18 tensors rounded up to 256 bytes); its 32
// calibration windows of 2048 tokens and 8 evaluation windows of 4096 (of 32: one batch of 8 each) x
// 4096 x 2 bytes, and on ranks 0 and 1 (one of the 2 probe windows each) the KL probe with its 64
// copies (one per block), 65 x 2048 x 4096 x 2 bytes; the checkpoint's mmapped pages (6,738,415,616
// parameters x 2 bytes). Rank 0 also: the journal's staging (a layer in bf16) and the checkpoint
// writer's pending shard (2 GiB, the default output.max_shard_gb). A node: twice rank 0's own
// memory, the mapped pages once.
TEST(Plan, HostMemoryPerRankAndNode) {
  Config cfg = default_config();
  cfg.runtime.device = DeviceType::CUDA;
  cfg.runtime.precision = Precision::F16;
  cfg.runtime.hidden_states = model::Residence::Host;
  cfg.calibration.nsamples = 128;
  cfg.calibration.batch = 8;
  io::ModelConfig m = llama_like("llama", 4096, 32, 32, 32, 11008, 32000, 4096, false, false);
  m.weight_dtype = DType::BF16;
  Plan p = make_plan(cfg, m, 4, {32});
  p.ranks_per_node = 2;
  ASSERT_EQ(p.shards.size(), 4u);
  const int64_t baseline = 40ll << 20, layer = 202'383'360ll * 2 + 18 * 256;
  const int64_t states = (32ll * 2048 + 8ll * 4096) * 4096 * 2, mapped = 6'738'415'616ll * 2;
  const int64_t probes = 65ll * 2048 * 4096 * 2;
  for (const RankShard& s : p.shards) {
    SCOPED_TRACE(s.rank);
    const HostMemoryEstimate& h = s.host;
    EXPECT_EQ(h.baseline, baseline);
    EXPECT_EQ(h.device, 0);  // a GPU run: the device estimate is the GPU's
    EXPECT_EQ(h.read_ahead, 2 * layer);
    EXPECT_EQ(h.hidden_states, states + (s.rank < 2 ? probes : 0));
    EXPECT_EQ(h.mapped, mapped);
    EXPECT_EQ(h.journal, s.rank == 0 ? layer : 0);
    EXPECT_EQ(h.checkpoint, s.rank == 0 ? 4ll << 30 : 0);  // two 2 GiB shards: one written, one filling
  }
  const int64_t rank0 = baseline + 2 * layer + states + probes + layer + (4ll << 30);
  EXPECT_EQ(p.shards[0].host.total(), rank0 + mapped);  // 20,923,880,960 bytes
  EXPECT_EQ(p.peak_host_shard().rank, 0);
  EXPECT_EQ(p.host_per_node(), 2 * rank0 + mapped);  // 28,370,930,688 bytes
  const std::string text = format_plan(p);
  EXPECT_NE(text.find("estimated peak host memory: 19.49 GiB (rank 0); per node of 2 rank(s): 26.42 GiB"),
            std::string::npos)
      << text;
  // Without the journal and a checkpoint rank 0 holds no writer buffer; a small shard limit still
  // holds the embeddings (32000 x 4096 bf16), a shard of their own, and the LM head's next to it.
  Config quiet = cfg;
  quiet.output.journal = false;
  quiet.output.checkpoint = CheckpointForm::None;
  const HostMemoryEstimate q = make_plan(quiet, m, 4, {32}).shards[0].host;
  EXPECT_EQ(q.journal + q.checkpoint, 0);
  cfg.output.max_shard_gb = 0.01;
  EXPECT_EQ(make_plan(cfg, m, 4, {32}).shards[0].host.checkpoint, 2 * 32000ll * 4096 * 2);
  // On the CPU the device estimate is host memory (the layer read ahead is one of its tensors); the
  // hidden states on the device are in it too. Synthetic weights map no file.
  cfg.runtime.device = DeviceType::CPU;
  cfg.runtime.hidden_states = model::Residence::Device;
  const Plan c = make_plan(cfg, m, 4, {32});
  EXPECT_EQ(c.shards[1].host.device, c.shards[1].memory.peak());
  EXPECT_EQ(c.shards[1].host.read_ahead + c.shards[1].host.hidden_states, 0);
  EXPECT_EQ(c.shards[1].host.total(), baseline + c.shards[1].memory.peak() + mapped);
  cfg.model.synthetic = true;
  EXPECT_EQ(make_plan(cfg, m, 4, {32}).shards[1].host.mapped, 0);
  EXPECT_EQ(make_plan(cfg, m, 1).host_per_node(), make_plan(cfg, m, 1).shards[0].host.total());
}

TEST(Plan, SeqlenFollowsTheModelContext) {
  Config cfg = default_config();
  const auto small = llama_like("llama", 64, 5, 8, 4, 172, 512, 512, true, false);
  const Plan p = make_plan(cfg, small, 1);
  EXPECT_EQ(p.calib_seqlen, 512);  // 0 -> min(2048, context)
  cfg.calibration.seqlen = 1024;
  EXPECT_THROW(make_plan(cfg, small, 1), InputError);
}

TEST(Plan, MoreRanksThanBatchesLeavesRanksWithoutWindows) {
  const auto small = llama_like("llama", 64, 5, 8, 4, 172, 512, 512, true, false);
  Config cfg = default_config();
  cfg.calibration.nsamples = 16;
  cfg.calibration.batch = 4;
  const Plan p = make_plan(cfg, small, 8);
  ASSERT_EQ(p.shards.size(), 8u);
  EXPECT_EQ(p.shards[3].calib_windows, 4);
  EXPECT_EQ(p.shards[7].calib_windows, 0);
  EXPECT_EQ(p.shards[7].memory.calib_states, 0);
  EXPECT_GT(p.shards[7].memory.globals, 0);  // it still streams every layer for the collectives
  EXPECT_FALSE(p.warnings.empty());
  EXPECT_NE(format_plan(p).find("estimated peak device memory"), std::string::npos);
}

}  // namespace
// Held-out probe windows are drawn beyond calibration.nsamples, so the plan counts all of them;
// without, the probe reads at most the nsamples calibration windows.
TEST(Plan, HeldOutProbeWindowsAreCountedBeyondTheCalibrationWindows) {
  Config cfg = default_config();
  cfg.calibration.nsamples = 2;
  cfg.prune.probe_windows = 4;
  const auto m = llama_like("llama", 256, 4, 4, 4, 512, 1000, 512, false, false);
  auto probes = [&] {
    int n = 0;
    for (const auto& s : make_plan(cfg, m, 2).shards) n += s.probe_windows;
    return n;
  };
  EXPECT_EQ(probes(), 2);
  EXPECT_EQ(held_out_probe_windows(cfg), 0);
  cfg.prune.probe_held_out = true;
  EXPECT_EQ(probes(), 4);
  EXPECT_EQ(held_out_probe_windows(cfg), 4);
  cfg.prune.normalize = Normalization::Residual;  // no probe: nothing drawn for it
  EXPECT_EQ(held_out_probe_windows(cfg), 0);
}

}  // namespace sp::cli
