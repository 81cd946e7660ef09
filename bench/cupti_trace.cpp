// cupti_trace: a kernel trace of any CUDA program, by injection (no change to the program, no
// Nsight Systems needed). CUDA loads it at cuInit when
//
//   CUDA_INJECTION64_PATH=build/bench/libcupti_trace.so NVTX_INJECTION64_PATH=/usr/local/cuda/lib64/libcupti.so
//   SP_TRACE_OUT=trace.json struprune-dist prune job.yaml          (the three variables in one environment)
//
// It records every kernel, copy and memset (CUPTI activity records: device start / end), every
// runtime / driver API call (host start / end) and the NVTX ranges the program opens
// (core/trace_range.h: the phases of report.json, the OBS greedy's steps). At exit it charges each
// kernel to the innermost range open on the launching thread when it was launched, and writes, per
// range path: how often it was entered, its host wall time, the device time of its kernels and
// copies, and its kernels by name; plus the host time spent waiting in synchronising calls. The
// table goes to stderr, the whole trace summary as JSON to SP_TRACE_OUT.
#include <cupti.h>
#include <generated_nvtx_meta.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Launch {  // a device activity: its device time and where it was launched from
  uint32_t correlation;
  uint64_t start, end;
  std::string name;
};
struct Api {  // a runtime / driver call on the host
  uint64_t start, end;
  uint32_t thread;
  const char* name;  // CUPTI's own static string
};
struct Mark {  // an NVTX push (start) or pop (end), seen by a callback on the pushing thread
  uint64_t time;
  pid_t thread;
  bool push;
  std::string name;
};

std::mutex g_mutex;
std::vector<Launch> g_launches;
std::unordered_map<uint32_t, Api> g_api;  // by correlation id
std::vector<Api> g_waits;                 // the calls that wait for the device
std::vector<Mark> g_marks;

bool is_wait(const char* name) {
  static const char* waits[] = {"Synchronize", "cudaMemcpy", "cuMemcpy", "cudaFree", "cuMemFree"};
  for (const char* w : waits)
    if (std::strstr(name, w) && !std::strstr(name, "Async")) return true;
  return std::strstr(name, "Synchronize") != nullptr;
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = 8 << 20;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, *size));
  *max_records = 0;
}

// Where record() is, for the crash handler (a record layout that differs from the headers').
volatile int g_stage = 0, g_kind = -1;

void on_crash(int sig) {
  char line[96];
  const int n =
      std::snprintf(line, sizeof line, "cupti_trace: signal %d in record kind %d at stage %d\n", sig, g_kind, g_stage);
  if (write(2, line, size_t(n)) < 0) _exit(128 + sig);
  _exit(128 + sig);
}

void record(CUpti_Activity* r) {
  g_kind = int(r->kind);
  g_stage = 1;
  switch (r->kind) {
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
    case CUPTI_ACTIVITY_KIND_KERNEL: {
      // Kernels are charged by range, not named: on the H100 image the record's name pointer
      // could not be read (a crash in every run), so only its times and correlation id are used.
      auto* k = reinterpret_cast<CUpti_ActivityKernel10*>(r);
      g_launches.push_back({k->correlationId, k->start, k->end, "[kernel]"});
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
      auto* m = reinterpret_cast<CUpti_ActivityMemcpy6*>(r);
      static const char* kinds[] = {"?", "HtoD", "DtoH", "HtoA", "AtoH", "AtoA", "AtoD", "DtoA", "DtoD", "HtoH"};
      const unsigned kind = m->copyKind < 10 ? m->copyKind : 0;
      g_launches.push_back({m->correlationId, m->start, m->end, std::string("[memcpy ") + kinds[kind] + "]"});
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMSET: {
      auto* m = reinterpret_cast<CUpti_ActivityMemset4*>(r);
      g_launches.push_back({m->correlationId, m->start, m->end, "[memset]"});
      break;
    }
    case CUPTI_ACTIVITY_KIND_RUNTIME:
    case CUPTI_ACTIVITY_KIND_DRIVER: {
      auto* a = reinterpret_cast<CUpti_ActivityAPI*>(r);
      const char* name = nullptr;
      g_stage = 4;
      cuptiGetCallbackName(
          r->kind == CUPTI_ACTIVITY_KIND_RUNTIME ? CUPTI_CB_DOMAIN_RUNTIME_API : CUPTI_CB_DOMAIN_DRIVER_API, a->cbid,
          &name);
      g_stage = 5;
      Api api{a->start, a->end, a->threadId, name ? name : "?"};
      if (name && is_wait(name)) g_waits.push_back(api);
      // A runtime call and the driver call beneath it share the id: keep the outer (runtime) one.
      auto it = g_api.find(a->correlationId);
      if (it == g_api.end() || r->kind == CUPTI_ACTIVITY_KIND_RUNTIME) g_api[a->correlationId] = api;
      break;
    }
    default:
      break;
  }
}

// NVTX ranges through the callback API, on the thread that opens them (the host clock of the
// activity records: cuptiGetTimestamp).
void CUPTIAPI on_nvtx(void*, CUpti_CallbackDomain domain, CUpti_CallbackId id, const void* data) {
  if (domain != CUPTI_CB_DOMAIN_NVTX) return;
  const bool push = id == CUPTI_CBID_NVTX_nvtxRangePushA;
  if (!push && id != CUPTI_CBID_NVTX_nvtxRangePop) return;
  uint64_t t = 0;
  cuptiGetTimestamp(&t);
  std::string name;
  if (push) {
    const auto* p = static_cast<const nvtxRangePushA_params*>(static_cast<const CUpti_NvtxData*>(data)->functionParams);
    name = p && p->message ? p->message : "";
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  g_marks.push_back({t, pid_t(syscall(SYS_gettid)), push, std::move(name)});
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  std::lock_guard<std::mutex> lock(g_mutex);
  CUpti_Activity* r = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid, &r) == CUPTI_SUCCESS) record(r);
  std::free(buffer);
}

struct Totals {
  int64_t entered = 0;
  double wall_ms = 0, device_ms = 0, wait_ms = 0;
  std::map<std::string, std::pair<int64_t, double>> kernels;  // name -> count, ms
};

// The path of the range open at a time ("pass1.curves/greedy.update"), for times asked in
// increasing order: a sweep over the pushes and pops of the thread that opened the first range (the
// program's main thread, where its phases and hot loops run). Launches are charged by time alone, so
// a helper thread's launches (the layer read-ahead's copies) land in the main thread's range of the moment.
class RangeAt {
 public:
  explicit RangeAt(std::map<std::string, Totals>& totals) : totals_(totals) {
    for (const Mark& m : g_marks)
      if (m.thread == g_marks.front().thread) marks_.push_back(&m);
  }
  const std::string& operator()(uint64_t t) {
    for (; next_ < marks_.size() && marks_[next_]->time <= t; ++next_) {
      const Mark& m = *marks_[next_];
      if (m.push) {
        stack_.push_back({m.time, stack_.empty() ? m.name : stack_.back().second + "/" + m.name});
      } else if (!stack_.empty()) {
        Totals& x = totals_[stack_.back().second];
        ++x.entered;
        x.wall_ms += double(m.time - stack_.back().first) / 1e6;
        stack_.pop_back();
      }
    }
    return stack_.empty() ? none_ : stack_.back().second;
  }

 private:
  std::map<std::string, Totals>& totals_;
  std::vector<const Mark*> marks_;
  size_t next_ = 0;
  std::vector<std::pair<uint64_t, std::string>> stack_;  // start, path
  const std::string none_ = "(no range)";
};

void report() {
  cuptiActivityFlushAll(1);
  std::lock_guard<std::mutex> lock(g_mutex);
  std::map<std::string, Totals> totals;
  Totals all;
  uint64_t first = UINT64_MAX, last = 0;
  // Device work in the order of its launch calls, then the waits in theirs.
  std::vector<std::pair<uint64_t, const Launch*>> launches;
  for (const Launch& l : g_launches) {
    const auto api = g_api.find(l.correlation);
    launches.push_back({api != g_api.end() ? api->second.start : 0, &l});
  }
  std::sort(launches.begin(), launches.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  {
    RangeAt at(totals);
    for (const auto& [t, l] : launches) {
      const double ms = double(l->end - l->start) / 1e6;
      first = std::min(first, l->start), last = std::max(last, l->end);
      for (Totals* x : {&totals[t ? at(t) : std::string("(no launch record)")], &all}) {
        x->device_ms += ms;
        auto& k = x->kernels[l->name];
        ++k.first, k.second += ms;
      }
    }
    at(UINT64_MAX);  // closes every range: their counts and wall times
  }
  std::sort(g_waits.begin(), g_waits.end(), [](const Api& a, const Api& b) { return a.start < b.start; });
  std::map<std::string, Totals> unused;
  RangeAt wait_at(unused);
  for (const Api& w : g_waits) {
    const double ms = double(w.end - w.start) / 1e6;
    all.wait_ms += ms;
    totals[wait_at(w.start)].wait_ms += ms;
  }
  auto top = [](const Totals& x, size_t n) {
    std::vector<std::pair<std::string, std::pair<int64_t, double>>> v(x.kernels.begin(), x.kernels.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.second > b.second.second; });
    if (v.size() > n) v.resize(n);
    return v;
  };
  nlohmann::json j;
  j["span_ms"] = first < last ? double(last - first) / 1e6 : 0.0;
  j["device_ms"] = all.device_ms;
  j["wait_ms"] = all.wait_ms;
  for (const auto& [path, x] : totals) {
    nlohmann::json r{
        {"entered", x.entered}, {"wall_ms", x.wall_ms}, {"device_ms", x.device_ms}, {"wait_ms", x.wait_ms}};
    for (const auto& [name, k] : top(x, 12))
      r["kernels"].push_back({{"name", name}, {"count", k.first}, {"ms", k.second}});
    j["ranges"][path] = r;
  }
  for (const auto& [name, k] : top(all, 40))
    j["kernels"].push_back({{"name", name}, {"count", k.first}, {"ms", k.second}});
  std::fprintf(stderr, "\ncupti_trace: device busy %.1f ms of a %.1f ms span; host waits %.1f ms\n", all.device_ms,
               j["span_ms"].get<double>(), all.wait_ms);
  std::fprintf(stderr,
               "| range | entered | wall ms | device ms | waits ms | top kernel |\n|---|---:|---:|---:|---:|---|\n");
  for (const auto& [path, x] : totals) {
    const auto t = top(x, 1);
    std::fprintf(stderr, "| %s | %lld | %.1f | %.1f | %.1f | %s |\n", path.c_str(), static_cast<long long>(x.entered),
                 x.wall_ms, x.device_ms, x.wait_ms,
                 t.empty() ? "" : (t[0].first + " " + std::to_string(int(t[0].second.second)) + " ms").c_str());
  }
  if (const char* out = std::getenv("SP_TRACE_OUT")) std::ofstream(out) << j.dump(1) << "\n";
}

}  // namespace

extern "C" int InitializeInjection() {
  static bool done = false;  // CUDA may call it more than once in a process
  if (done) return 1;
  done = true;
  cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
  if (std::getenv("SP_TRACE_CRASH")) std::signal(SIGSEGV, on_crash);
  CUpti_SubscriberHandle subscriber;
  CUptiResult rc = cuptiSubscribe(&subscriber, on_nvtx, nullptr);
  if (rc == CUPTI_SUCCESS) rc = cuptiEnableDomain(1, subscriber, CUPTI_CB_DOMAIN_NVTX);
  if (rc != CUPTI_SUCCESS) {
    const char* why = "?";
    cuptiGetResultString(rc, &why);
    std::fprintf(stderr, "cupti_trace: no NVTX callbacks, ranges not recorded (%s)\n", why);
  }
  for (CUpti_ActivityKind k : {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
                               CUPTI_ACTIVITY_KIND_MEMSET, CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_ACTIVITY_KIND_DRIVER})
    if (cuptiActivityEnable(k) != CUPTI_SUCCESS) std::fprintf(stderr, "cupti_trace: activity kind %d not enabled\n", k);
  std::fprintf(stderr, "cupti_trace: recording\n");
  std::atexit(report);
  return 1;
}
