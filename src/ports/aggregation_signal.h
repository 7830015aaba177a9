// How the aggregators learn that there is work, beside the store's dirty
// marks (which stay the truth: an Aggregator::RunOnce claims whatever is
// dirty, whoever signalled it). Inserters Publish after an effect that may
// change daily totals committed; the aggregator thread Waits, runs, then
// calls Done (or Again when the run failed, so the signals come back).
//  - app::LocalAggregationSignal (app/aggregator.h): in-process, the
//    embedded default; the signals are only wake-ups (an aggregator in another process finds the
//    marks at its idle poll).
//  - adapters/pubsub/PubSubAggregationSignal (`serve --transport pubsub`):
//    one message per applied event to the aggregates topic, pulled by every
//    aggregator process of the fleet.
// A lost signal loses nothing: the pipeline's idle poll runs the aggregator
// anyway (it also covers years marked by backfill). Thread-safe.
#pragma once

#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/webhook_event.h"

namespace dl::ports {

class AggregationSignal {
 public:
  // What one Wait handed out; opaque to the caller (ack handles, counts).
  struct Received {
    int count = 0;                 // signals received (0: woke on timeout)
    std::vector<std::string> ids;  // transport handles for Done/Again
  };
  virtual ~AggregationSignal() = default;
  // After the effects of `applied` committed (one signal per event).
  virtual Status Publish(std::span<const core::WebhookEvent> applied) = 0;
  // Blocks until a signal arrives, `timeout` passes or Interrupt() was
  // called; what arrived meanwhile is returned together.
  virtual Result<Received> Wait(std::chrono::milliseconds timeout) = 0;
  // The aggregation that followed `received` committed: they are consumed.
  virtual Status Done(const Received& received) = 0;
  // It failed: the signals are delivered again later.
  virtual Status Again(const Received& received) = 0;
  // Ends the current and every later Wait at once (shutdown).
  virtual void Interrupt() = 0;
};

}  // namespace dl::ports
