// The Pub/Sub emulator for tests: PUBSUB_EMULATOR_HOST when set, otherwise
// `gcloud beta emulators pubsub start` on a free loopback port, in its own
// process group (gcloud forks Java), killed as a group on Stop().
#pragma once

#include <sys/types.h>

#include <string>

namespace dl::adapters::pubsub::testing {

class Emulator {
 public:
  Emulator() = default;
  ~Emulator() { Stop(); }
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  // Empty string on success, else why it failed (gcloud missing, not ready
  // within the deadline). Idempotent.
  std::string Start();
  void Stop();
  // "http://127.0.0.1:PORT"; valid after a successful Start().
  const std::string& endpoint() const { return endpoint_; }

 private:
  pid_t pgid_ = -1;
  std::string endpoint_;
  std::string log_path_;
};

}  // namespace dl::adapters::pubsub::testing
