// A shared, ordered record of what fakes were asked to do, so a test can
// check the order of operations across fakes (e.g. the rotated refresh token
// was saved before the new access token was first used). Thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace dl::fakes {

class EventLog {
 public:
  void Add(std::string entry) {
    std::lock_guard lock(mu_);
    entries_.push_back(std::move(entry));
  }
  std::vector<std::string> Entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }
  // Index of the first entry containing `needle`, or -1.
  int IndexOf(std::string_view needle) const {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].find(needle) != std::string::npos) return static_cast<int>(i);
    return -1;
  }
  void Clear() {
    std::lock_guard lock(mu_);
    entries_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> entries_;
};

}  // namespace dl::fakes
