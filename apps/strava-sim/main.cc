// strava-sim: serve the simulator until SIGTERM or SIGINT.
#include <pthread.h>
#include <csignal>
#include <cstdio>
#include <exception>

#include "sim/simulator.h"

int main(int argc, char** argv) {
  try {
    auto parsed = dl::sim::ParseSimArgs(argc, argv);
    if (!parsed) {
      std::fprintf(stderr, "strava-sim: %s\n", parsed.error().message.c_str());
      return 2;
    }
    if (parsed->help) {
      std::fputs(parsed->help_text.c_str(), stdout);
      return 0;
    }
    // Block the stop signals before any thread starts, so only sigwait sees them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    dl::sim::Simulator sim(std::move(parsed->options));
    if (auto started = sim.Start(); !started) {
      std::fprintf(stderr, "strava-sim: %s\n", started.error().message.c_str());
      return 1;
    }
    std::printf("listening on %s\n", sim.base_url().c_str());
    std::fflush(stdout);
    int signal = 0;
    sigwait(&stop_signals, &signal);
    sim.Stop();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strava-sim: fatal: %s\n", e.what());
    return 1;
  }
}
