// Activity page parse throughput: ActivityParser::ParsePage (every typed
// field plus each object's raw JSON) on a realistic 200-activity page
// (about 2.1 KB per activity, 412 KB), and beside it, in the same run, the
// ceilings: simdjson's first pass alone, and the padded copy plus a walk
// over the objects that reads no field.
//
// "per cpu-s" is per CPU-second of this process: the cost that does not
// depend on how busy the shared machine is.
//
// Usage: strava_parse_bench [--rounds N]   (Release build)
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "../tests/adapters/strava_http/fixtures.h"
#include "adapters/strava_http/strava_json.h"

namespace {

double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Runs `once` (which returns the activities it handled) `rounds` times.
void Measure(const char* what, int rounds, size_t page_bytes, const std::function<size_t()>& once) {
  for (int i = 0; i < 5; ++i) once();  // warm caches and buffers
  double start = CpuSeconds();
  size_t activities = 0;
  for (int i = 0; i < rounds; ++i) activities += once();
  double s = CpuSeconds() - start;
  std::printf("%-34s %12.0f activities/cpu-s %8.2f GB/cpu-s\n", what, static_cast<double>(activities) / s,
              static_cast<double>(page_bytes) * rounds / s / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 2000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
  const std::string page = dl::adapters::strava_http::fixtures::MakePage(200);
  std::printf("page: 200 activities, %zu bytes; %d rounds\n", page.size(), rounds);

  dl::adapters::strava_http::ActivityParser parser;
  Measure("ParsePage (typed fields + raw)", rounds, page.size(), [&] {
    auto r = parser.ParsePage(page);
    if (!r) std::abort();
    return r->size();
  });

  // What backfill does: each page parsed into the last page's activities
  // (recycled), from a body buffer that is reused (padded in place).
  std::vector<dl::core::Activity> reused;
  std::string body;
  Measure("ParsePageInPlace, reused page", rounds, page.size(), [&] {
    body.assign(page);  // as curl fills the reused buffer
    if (!parser.ParsePageInPlace(body, reused)) std::abort();
    return reused.size();
  });

  simdjson::ondemand::parser od;
  simdjson::padded_string padded(page);
  Measure("ceiling: simdjson first pass", rounds, page.size(), [&] {
    auto doc = od.iterate(padded);
    return doc.error() ? size_t{0} : size_t{200};
  });
  Measure("ceiling: copy + walk, no fields", rounds, page.size(), [&] {
    simdjson::padded_string copy(page);
    auto doc = od.iterate(copy);
    size_t n = 0;
    for (auto element : doc.get_array()) {
      if (element.error()) std::abort();
      ++n;  // the unread object is skipped on the next step
    }
    return n;
  });
  return 0;
}
