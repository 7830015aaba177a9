// The configuration file: TOML, flat or with one level of tables, e.g.
//   data_dir = "/var/lib/desirelines"
//   [strava]
//   client_id = 12345
//   client_secret = "..."
// read as the flat map {"data_dir": "...", "strava.client_id": "12345",
// "strava.client_secret": "..."}. Which keys exist is the caller's business
// (app::ResolveConfig rejects unknown ones).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dl::adapters::files {

using ConfigValues = std::map<std::string, std::string>;

// Values become strings: strings as they are; integers in decimal; floats
// in the shortest form that reads back the same ("1.5", "1e+20", "inf");
// booleans "true"/"false"; dates and times in their TOML form; an array of
// such scalars joined with "," (for lists such as api.cors_origins; an
// element containing a comma is an error). Tables nested deeper than one
// level, arrays of tables and arrays of arrays are errors.
// Errors: kNotFound (no such file), kIo, kInvalidArgument as
// "FILE:LINE:COLUMN: reason". Messages name keys, never values, so a
// secret in the file does not end up in a log.
Result<ConfigValues> LoadConfigFile(const std::filesystem::path& path);

// The same from text; `source` names it in error messages.
Result<ConfigValues> ParseConfig(std::string_view text, std::string_view source);

// Ok when only the owner can read or write `path` (mode & 077 == 0). A file
// holding secrets (client secret, refresh token, verify or write token)
// should be; otherwise kInvalidArgument with the mode and the chmod command
// that fixes it. The caller decides whether that is a warning or fatal.
// kNotFound / kIo when the file cannot be examined.
Status CheckOwnerOnly(const std::filesystem::path& path);

}  // namespace dl::adapters::files
