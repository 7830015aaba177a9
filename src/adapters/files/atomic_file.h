// Whole-file output that readers never see half-written, and the matching
// whole-file read. Every output file of desirelines (aggregates, token store
// files, anything secret) goes through AtomicWriteFile.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dl::adapters::files {

inline constexpr std::filesystem::perms kPublicFileMode = static_cast<std::filesystem::perms>(0644);
inline constexpr std::filesystem::perms kSecretFileMode = static_cast<std::filesystem::perms>(0600);

// Replaces `path` with `content`: creates the missing parent directories,
// writes a temporary file in the same directory (created 0600, so a secret is
// never readable by others even for a moment), sets `mode` exactly (the umask
// does not apply), fsyncs it, renames it over `path` and fsyncs the directory.
// A reader sees either the old file or the new one, never a mix; after a
// crash at most a hidden ".NAME.tmp-XXXXXX" file is left behind. On failure
// the old file is untouched and the temporary file removed.
// Errors: kIo with the path and the system's reason (never the content).
// Thread-safe: concurrent writers of the same path each win whole.
Status AtomicWriteFile(const std::filesystem::path& path, std::string_view content,
                       std::filesystem::perms mode = kPublicFileMode);

// One member of AtomicWriteFiles.
struct FileContent {
  std::filesystem::path path;
  std::string content;
  std::filesystem::perms mode = kPublicFileMode;
};

// AtomicWriteFile for several files at once, with the same guarantees for
// each file, and the group's durability paid once: every temporary file is
// written first, then all are fsynced, renamed in order, and each directory
// fsynced once. On ext4 the first fsync commits the journal for the whole
// group, so a year's four output files cost about two journal commits
// instead of eight (measured: docs/PERFORMANCE.md). The group is not one
// transaction: a reader may see some files new and others old while it runs
// (as with one AtomicWriteFile after another). On failure nothing more is
// renamed, the remaining temporary files are removed, and the files renamed
// before the failure stay replaced. Paths must be distinct.
Status AtomicWriteFiles(std::span<const FileContent> files);

// The whole file. kNotFound when it does not exist, kIo on other failures.
Result<std::string> ReadFile(const std::filesystem::path& path);

}  // namespace dl::adapters::files
