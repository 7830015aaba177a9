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

// The one emulator of this test process: started by the first test that
// needs it (Start() is idempotent), stopped once after the last test.
Emulator& SharedEmulator();

// A topic or subscription name unique per process and call, so that tests
// sharing an emulator (or a long-lived one, PUBSUB_EMULATOR_HOST) never collide.
std::string UniqueId(const std::string& stem);

}  // namespace dl::adapters::pubsub::testing
