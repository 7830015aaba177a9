#include "adapters/files/config_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>
#include <toml++/toml.h>

#include "adapters/files/atomic_file.h"

namespace dl::adapters::files {
namespace {

std::unexpected<Error> InvalidAt(std::string_view source, const toml::source_region& where, const std::string& why) {
  return Fail(ErrorCode::kInvalidArgument, std::string(source) + ":" + std::to_string(where.begin.line) + ":" +
                                               std::to_string(where.begin.column) + ": " + why);
}

std::string_view LineOf(std::string_view text, uint32_t line) {
  size_t start = 0;
  for (uint32_t l = 1; l < line && start != std::string_view::npos; ++l) {
    start = text.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  if (start == std::string_view::npos) return {};
  return text.substr(start, text.find('\n', start) - start);
}

// toml++ quotes offending text ("'1234abcd' could not be interpreted as a
// value"). Quoted runs that come from the value side of the error's line are
// hidden: the value may be a secret. Key and table names stay visible.
std::string HideValues(std::string description, std::string_view text, uint32_t line) {
  std::string_view src = LineOf(text, line);
  size_t eq = src.find('=');
  if (eq == std::string_view::npos) return description;
  std::string_view value_side = src.substr(eq + 1);
  size_t open = 0;
  while ((open = description.find('\'', open)) != std::string::npos) {
    size_t close = description.find('\'', open + 1);
    if (close == std::string::npos) break;
    std::string quoted = description.substr(open + 1, close - open - 1);
    if (quoted.size() > 1 && value_side.find(quoted) != std::string_view::npos) {
      description.replace(open, close - open + 1, "(value hidden)");
      close = open + std::strlen("(value hidden)") - 1;
    }
    open = close + 1;
  }
  return description;
}

std::string ShortestDouble(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// A scalar's text, or nullopt when `node` is not a scalar.
std::optional<std::string> ScalarText(const toml::node& node) {
  if (auto s = node.as_string()) return s->get();
  if (auto i = node.as_integer()) return std::to_string(i->get());
  if (auto f = node.as_floating_point()) return ShortestDouble(f->get());
  if (auto b = node.as_boolean()) return b->get() ? "true" : "false";
  std::ostringstream out;
  if (auto d = node.as_date()) out << d->get();
  if (auto t = node.as_time()) out << t->get();
  if (auto dt = node.as_date_time()) out << dt->get();
  if (!out.str().empty()) return out.str();
  return std::nullopt;
}

Result<std::string> ValueText(std::string_view source, const std::string& key, const toml::node& node) {
  if (auto text = ScalarText(node)) return *text;
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    return InvalidAt(source, node.source(),
                     "'" + key + "' is nested more than one table deep; use [table] and plain keys");
  }
  std::string joined;
  for (size_t i = 0; i < array->size(); ++i) {
    auto item = ScalarText(*array->get(i));
    if (!item) return InvalidAt(source, node.source(), "'" + key + "' must be a list of plain values");
    if (item->find(',') != std::string::npos) {
      return InvalidAt(source, node.source(), "an element of '" + key + "' contains a comma, which lists cannot hold");
    }
    joined += (i > 0 ? "," : "") + *item;
  }
  return joined;
}

Status Put(std::string_view source, ConfigValues& out, const std::string& key, const toml::node& node) {
  auto text = ValueText(source, key, node);
  if (!text) return std::unexpected(text.error());
  if (!out.emplace(key, std::move(*text)).second) {
    return InvalidAt(source, node.source(), "'" + key + "' is defined twice");
  }
  return Ok();
}

Status Flatten(std::string_view source, const toml::table& root, ConfigValues& out) {
  for (const auto& [key, node] : root) {
    std::string name(key.str());
    if (const toml::table* table = node.as_table()) {
      for (const auto& [sub_key, sub_node] : *table) {
        if (auto s = Put(source, out, name + "." + std::string(sub_key.str()), sub_node); !s) return s;
      }
    } else if (auto s = Put(source, out, name, node); !s) {
      return s;
    }
  }
  return Ok();
}

}  // namespace

Result<ConfigValues> ParseConfig(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return InvalidAt(source, e.source(), HideValues(std::string(e.description()), text, e.source().begin.line));
  }
  ConfigValues out;
  if (auto s = Flatten(source, root, out); !s) return std::unexpected(s.error());
  return out;
}

Result<ConfigValues> LoadConfigFile(const std::filesystem::path& path) {
  auto text = ReadFile(path);
  if (!text) {
    auto e = text.error();
    e.message = "configuration file: " + e.message;
    return std::unexpected(std::move(e));
  }
  return ParseConfig(*text, path.string());
}

Status CheckOwnerOnly(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return Fail(ErrorCode::kNotFound, path.string() + " does not exist");
    return Fail(ErrorCode::kIo, "cannot examine " + path.string() + ": " + std::strerror(err));
  }
  unsigned mode = st.st_mode & 07777u;
  if ((mode & 077u) == 0) return Ok();
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", mode);
  return Fail(ErrorCode::kInvalidArgument, path.string() + " holds secrets but group or others may access it (mode " +
                                               octal + "); run: chmod 600 " + path.string());
}

}  // namespace dl::adapters::files
