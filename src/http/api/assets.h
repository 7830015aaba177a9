// The dashboard's files (web/, built by esbuild at build time), embedded in
// the binary by cmake/EmbedAssets.cmake: nothing is read from disk or
// fetched from the internet to serve them.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace dl::http::api {

struct EmbeddedAsset {
  std::string_view path;          // "index.html", "assets/main-ABC123.js"
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view etag;          // "\"<sha256 prefix>\"", computed at build time
  std::string_view body;
};

// Every embedded file (generated: embedded_assets.cc).
std::span<const EmbeddedAsset> EmbeddedAssets();

// The asset at `path` (no leading slash), or nullopt.
std::optional<EmbeddedAsset> FindAsset(std::string_view path);

}  // namespace dl::http::api
