// Internal to the PostgreSQL adapter: one libpq connection, binary-format
// statement parameters and results, and the connection target parsed from a
// URL with the password kept out of every message.
//
// Everything travels in PostgreSQL's binary format: integers and doubles are
// exact (no text formatting of floats), byte strings need no escaping, and a
// whole page of activities goes to the server as one array per column.
//
// A Connection is not thread-safe: one thread uses it at a time (the pool in
// pool.h hands connections out).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "core/result.h"

struct pg_conn;    // libpq's PGconn
struct pg_result;  // libpq's PGresult

namespace dl::adapters::postgres {

// Where to connect, parsed from `postgresql://user[:password]@host:port/db`
// (or a libpq key=value string).
struct ConnTarget {
  std::string conninfo;  // as given (may contain the password; never printed)
  std::string password;  // scrubbed from every message
  std::string display;   // "postgresql://user@host:port/db", no password
};

Result<ConnTarget> ParseTarget(const std::string& url);

// `url` with any password replaced by "***" (for logs and messages; works on
// malformed URLs too).
std::string RedactUrl(const std::string& url);

// Type OIDs (catalog/pg_type.dat) of the values sent and read in binary.
namespace oid {
inline constexpr uint32_t kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kText = 25, kFloat4 = 700,
                          kFloat8 = 701;
inline constexpr uint32_t kBoolArray = 1000, kByteaArray = 1001, kInt4Array = 1007, kTextArray = 1009,
                          kInt8Array = 1016, kFloat8Array = 1022;
}  // namespace oid

// One statement parameter in binary format. The type travels with the value
// (also for NULL), and statements are prepared with these types.
struct Param {
  uint32_t type = oid::kText;
  bool is_null = false;
  std::string bytes;

  static Param Int8(int64_t v);
  static Param Int4(int32_t v);
  static Param Float8(double v);
  static Param Bool(bool v);
  static Param Text(std::string_view v);   // must be valid in the server encoding
  static Param Bytea(std::string_view v);  // any bytes
  static Param Null(uint32_t type);
  static Param OptionalInt8(const std::optional<int64_t>& v);
  static Param OptionalText(const std::optional<std::string>& v);
};

// A one-dimensional array parameter, built element by element (binary array
// format: header, then each element's length and bytes; length -1 = NULL).
class ArrayBuilder {
 public:
  // element: the element type OID (oid::kInt8, kFloat8, kBool, kText, kBytea).
  explicit ArrayBuilder(uint32_t element);
  void AddNull();
  void AddInt8(int64_t v);
  void AddInt4(int32_t v);
  void AddFloat8(double v);
  void AddBool(bool v);
  void AddBytes(std::string_view v);  // text or bytea, as the element type says
  template <class T>
  void AddOptional(const std::optional<T>& v) {
    if (!v) return AddNull();
    if constexpr (std::is_same_v<T, int64_t>)
      AddInt8(*v);
    else if constexpr (std::is_same_v<T, double>)
      AddFloat8(*v);
    else if constexpr (std::is_same_v<T, bool>)
      AddBool(*v);
    else
      AddBytes(*v);
  }
  int size() const { return count_; }
  Param Finish() const;

 private:
  uint32_t element_;
  int count_ = 0;
  bool has_null_ = false;
  std::string body_;
};

// A query result in binary format. Accessors take (row, column), 0-based, and
// convert from the column's actual type (int2/int4/int8, float4/float8).
class Rows {
 public:
  Rows() = default;
  explicit Rows(pg_result* result);
  int size() const;
  bool empty() const { return size() == 0; }
  bool IsNull(int row, int col) const;
  int64_t Int64(int row, int col) const;
  double Double(int row, int col) const;
  bool Bool(int row, int col) const;
  std::string_view View(int row, int col) const;  // text or bytea bytes
  std::string Text(int row, int col) const { return std::string(View(row, col)); }
  std::optional<int64_t> OptionalInt64(int row, int col) const;
  std::optional<std::string> OptionalText(int row, int col) const;
  std::vector<int64_t> Int64Array(int row, int col) const;  // int8[] or int4[]; NULL elements skipped
  int64_t affected() const;                                 // rows changed by INSERT/UPDATE/DELETE

 private:
  struct Free {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, Free> result_;
};

class Connection {
 public:
  static Result<std::unique_ptr<Connection>> Open(const ConnTarget& target, int connect_timeout_s);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a parameterised statement, prepared on this connection the first
  // time its text is seen (the parameter types come from `params`).
  Result<Rows> Exec(const std::string& sql, std::span<const Param> params = {});
  Result<Rows> Exec(const std::string& sql, std::initializer_list<Param> params) {
    return Exec(sql, std::span<const Param>(params.begin(), params.size()));
  }
  // Simple-protocol text without parameters; may hold several statements
  // (BEGIN, COMMIT, migrations).
  Status Run(const char* sql);

  // False once the server connection is lost: the pool drops it.
  bool Healthy() const;
  // The SQLSTATE of the last failed statement ("40P01"), empty after success.
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  const ConnTarget& target() const { return target_; }

 private:
  Connection(pg_conn* conn, ConnTarget target);
  Error Failure(pg_result* result, const char* what);
  Result<std::string> Prepared(const std::string& sql, std::span<const Param> params);

  pg_conn* conn_;
  ConnTarget target_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
  std::string last_sqlstate_;
};

// "postgresql://user@host:port/db: <what>" with the password scrubbed.
std::string Describe(const ConnTarget& target, std::string_view what);

}  // namespace dl::adapters::postgres
