#include "http/api/assets.h"

namespace dl::http::api {

std::optional<EmbeddedAsset> FindAsset(std::string_view path) {
  // A handful of files: a linear scan is as fast as any index.
  for (const auto& asset : EmbeddedAssets()) {
    if (asset.path == path) return asset;
  }
  return std::nullopt;
}

}  // namespace dl::http::api
