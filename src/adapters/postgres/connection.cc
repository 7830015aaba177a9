#include "adapters/postgres/connection.h"

#include <libpq-fe.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace dl::adapters::postgres {
namespace {

// ---- big-endian encoding (the wire format of binary values) ----

void PutU32(std::string& out, uint32_t v) {
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap32(v);
  char bytes[4];
  std::memcpy(bytes, &v, 4);
  out.append(bytes, 4);
}

void PutU64(std::string& out, uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  char bytes[8];
  std::memcpy(bytes, &v, 8);
  out.append(bytes, 8);
}

uint64_t GetBig(const char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

int64_t GetSigned(const char* p, int n) {
  const uint64_t u = GetBig(p, n);
  if (n == 8) return std::bit_cast<int64_t>(u);
  const uint64_t sign = uint64_t{1} << (8 * n - 1);
  return static_cast<int64_t>((u ^ sign) - sign);  // sign-extend
}

// ---- messages ----

std::string Scrub(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

// libpq messages span lines ("...failed: refused\n\tIs the server running..."):
// one line, tabs and newlines folded.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\t' || c == '\r') {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The [begin, end) of the password inside a URL or key=value string, so that
// it can be cut out even when libpq cannot parse the text.
std::vector<std::pair<size_t, size_t>> PasswordSpans(const std::string& url) {
  std::vector<std::pair<size_t, size_t>> spans;
  const size_t scheme = url.find("://");
  if (scheme != std::string::npos) {
    const size_t start = scheme + 3;
    const size_t query = url.find('?', start);
    const size_t at = url.rfind('@', query == std::string::npos ? std::string::npos : query);
    if (at != std::string::npos && at > start) {
      const size_t colon = url.find(':', start);
      if (colon != std::string::npos && colon < at) spans.emplace_back(colon + 1, at);
    }
  }
  for (size_t p = url.find("password="); p != std::string::npos; p = url.find("password=", p + 1)) {
    const size_t begin = p + 9;
    size_t end = begin;
    if (end < url.size() && url[end] == '\'') {  // key='quoted value'
      for (++end; end < url.size() && url[end] != '\''; ++end) {
        if (url[end] == '\\') ++end;
      }
      if (end < url.size()) ++end;
    } else {
      while (end < url.size() && url[end] != '&' && url[end] != ' ') ++end;
    }
    spans.emplace_back(begin, std::min(end, url.size()));
  }
  return spans;
}

std::string FirstWords(const std::string& sql) {
  std::string head = OneLine(sql.substr(0, 48));
  return sql.size() > 48 ? head + "..." : head;
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  std::string out;
  size_t from = 0;
  auto spans = PasswordSpans(url);
  std::sort(spans.begin(), spans.end());
  for (const auto& [begin, end] : spans) {
    if (begin < from) continue;
    out.append(url, from, begin - from);
    out += "***";
    from = end;
  }
  out.append(url, from, std::string::npos);
  return out;
}

std::string Describe(const ConnTarget& target, std::string_view what) {
  return Scrub(target.display + ": " + std::string(what), target.password);
}

Result<ConnTarget> ParseTarget(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string why = error != nullptr ? OneLine(error) : "out of memory";
    PQfreemem(error);
    for (const auto& [begin, end] : PasswordSpans(url)) why = Scrub(why, url.substr(begin, end - begin));
    return Fail(ErrorCode::kInvalidArgument, "invalid PostgreSQL URL " + RedactUrl(url) + ": " + why +
                                                 " (expected postgresql://user@host:port/database)");
  }
  ConnTarget target;
  target.conninfo = url;
  std::string user, host, port, dbname;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string key = o->keyword;
    if (key == "password") target.password = o->val;
    if (key == "user") user = o->val;
    if (key == "host" || (key == "hostaddr" && host.empty())) host = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") dbname = o->val;
  }
  PQconninfoFree(options);
  target.display = "postgresql://" + (user.empty() ? "" : user + "@") + (host.empty() ? "localhost" : host) +
                   (port.empty() ? "" : ":" + port) + "/" + dbname;
  target.display = Scrub(target.display, target.password);
  return target;
}

// ---- Param ----

Param Param::Int8(int64_t v) {
  Param p{oid::kInt8, false, {}};
  PutU64(p.bytes, static_cast<uint64_t>(v));
  return p;
}
Param Param::Int4(int32_t v) {
  Param p{oid::kInt4, false, {}};
  PutU32(p.bytes, static_cast<uint32_t>(v));
  return p;
}
Param Param::Float8(double v) {
  Param p{oid::kFloat8, false, {}};
  PutU64(p.bytes, std::bit_cast<uint64_t>(v));
  return p;
}
Param Param::Bool(bool v) { return Param{oid::kBool, false, std::string(1, v ? '\1' : '\0')}; }
Param Param::Text(std::string_view v) { return Param{oid::kText, false, std::string(v)}; }
Param Param::Bytea(std::string_view v) { return Param{oid::kBytea, false, std::string(v)}; }
Param Param::Null(uint32_t type) { return Param{type, true, {}}; }
Param Param::OptionalInt8(const std::optional<int64_t>& v) { return v ? Int8(*v) : Null(oid::kInt8); }
Param Param::OptionalText(const std::optional<std::string>& v) { return v ? Text(*v) : Null(oid::kText); }

// ---- ArrayBuilder ----

ArrayBuilder::ArrayBuilder(uint32_t element) : element_(element) {}

void ArrayBuilder::AddNull() {
  PutU32(body_, 0xFFFFFFFFu);  // length -1
  has_null_ = true;
  ++count_;
}
void ArrayBuilder::AddInt8(int64_t v) {
  PutU32(body_, 8);
  PutU64(body_, static_cast<uint64_t>(v));
  ++count_;
}
void ArrayBuilder::AddInt4(int32_t v) {
  PutU32(body_, 4);
  PutU32(body_, static_cast<uint32_t>(v));
  ++count_;
}
void ArrayBuilder::AddFloat8(double v) {
  PutU32(body_, 8);
  PutU64(body_, std::bit_cast<uint64_t>(v));
  ++count_;
}
void ArrayBuilder::AddBool(bool v) {
  PutU32(body_, 1);
  body_.push_back(v ? '\1' : '\0');
  ++count_;
}
void ArrayBuilder::AddBytes(std::string_view v) {
  PutU32(body_, static_cast<uint32_t>(v.size()));
  body_.append(v);
  ++count_;
}

Param ArrayBuilder::Finish() const {
  uint32_t array_type = oid::kTextArray;
  switch (element_) {
    case oid::kInt8:
      array_type = oid::kInt8Array;
      break;
    case oid::kInt4:
      array_type = oid::kInt4Array;
      break;
    case oid::kFloat8:
      array_type = oid::kFloat8Array;
      break;
    case oid::kBool:
      array_type = oid::kBoolArray;
      break;
    case oid::kBytea:
      array_type = oid::kByteaArray;
      break;
    default:
      break;
  }
  Param p{array_type, false, {}};
  p.bytes.reserve(20 + body_.size());
  PutU32(p.bytes, count_ > 0 ? 1 : 0);  // dimensions
  PutU32(p.bytes, has_null_ ? 1 : 0);
  PutU32(p.bytes, element_);
  if (count_ > 0) {
    PutU32(p.bytes, static_cast<uint32_t>(count_));
    PutU32(p.bytes, 1);  // lower bound
  }
  p.bytes += body_;
  return p;
}

// ---- Rows ----

void Rows::Free::operator()(pg_result* r) const { PQclear(r); }

Rows::Rows(pg_result* result) : result_(result) {}

int Rows::size() const { return result_ ? PQntuples(result_.get()) : 0; }

bool Rows::IsNull(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }

std::string_view Rows::View(int row, int col) const {
  return {PQgetvalue(result_.get(), row, col), static_cast<size_t>(PQgetlength(result_.get(), row, col))};
}

int64_t Rows::Int64(int row, int col) const {
  if (IsNull(row, col)) return 0;
  const std::string_view v = View(row, col);
  switch (PQftype(result_.get(), col)) {
    case oid::kBool:
      return v[0] != 0 ? 1 : 0;
    case oid::kFloat8:
      return static_cast<int64_t>(Double(row, col));
    default:
      return GetSigned(v.data(), static_cast<int>(v.size()));  // int2, int4, int8
  }
}

double Rows::Double(int row, int col) const {
  if (IsNull(row, col)) return 0;
  const std::string_view v = View(row, col);
  switch (PQftype(result_.get(), col)) {
    case oid::kFloat8:
      return std::bit_cast<double>(GetBig(v.data(), 8));
    case oid::kFloat4:
      return std::bit_cast<float>(static_cast<uint32_t>(GetBig(v.data(), 4)));
    default:
      return static_cast<double>(Int64(row, col));
  }
}

bool Rows::Bool(int row, int col) const { return Int64(row, col) != 0; }

std::optional<int64_t> Rows::OptionalInt64(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return Int64(row, col);
}

std::optional<std::string> Rows::OptionalText(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return Text(row, col);
}

std::vector<int64_t> Rows::Int64Array(int row, int col) const {
  std::vector<int64_t> out;
  if (IsNull(row, col)) return out;
  const std::string_view v = View(row, col);
  if (v.size() < 12) return out;
  const auto dims = static_cast<int>(GetBig(v.data(), 4));
  size_t at = 12 + 8 * static_cast<size_t>(dims);
  while (at + 4 <= v.size()) {
    const auto len = static_cast<int32_t>(GetBig(v.data() + at, 4));
    at += 4;
    if (len < 0) continue;
    if (at + static_cast<size_t>(len) > v.size()) break;
    out.push_back(GetSigned(v.data() + at, len));
    at += static_cast<size_t>(len);
  }
  return out;
}

int64_t Rows::affected() const {
  const char* n = result_ ? PQcmdTuples(result_.get()) : nullptr;
  return n != nullptr && *n != '\0' ? std::stoll(n) : 0;
}

// ---- Connection ----

Connection::Connection(pg_conn* conn, ConnTarget target) : conn_(conn), target_(std::move(target)) {}

Connection::~Connection() { PQfinish(conn_); }

Result<std::unique_ptr<Connection>> Connection::Open(const ConnTarget& target, int connect_timeout_s) {
  const std::string timeout = std::to_string(connect_timeout_s);
  // The URL's own settings override the defaults before it; client_encoding
  // after it is ours: text goes and comes as UTF-8.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", "client_encoding", nullptr};
  const char* values[] = {timeout.c_str(), "desirelines", target.conninfo.c_str(), "UTF8", nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Fail(ErrorCode::kIo, Describe(target, "cannot connect: out of memory"));
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = OneLine(PQerrorMessage(conn));
    PQfinish(conn);
    return Fail(ErrorCode::kIo, Describe(target, "cannot connect: " + why));
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);  // "already exists, skipping" and the like
  return std::unique_ptr<Connection>(new Connection(conn, target));
}

bool Connection::Healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

Error Connection::Failure(pg_result* result, const char* what) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  last_sqlstate_ = state != nullptr ? state : "08006";  // no SQLSTATE: the connection failed
  std::string message = primary != nullptr ? primary : OneLine(PQerrorMessage(conn_));
  if (state != nullptr) message += std::string(" (SQLSTATE ") + state + ")";
  return Error{ErrorCode::kIo, Describe(target_, std::string(what) + ": " + message)};
}

Result<std::string> Connection::Prepared(const std::string& sql, std::span<const Param> params) {
  if (auto it = prepared_.find(sql); it != prepared_.end()) return it->second;
  std::string name = "dl_" + std::to_string(prepared_.size() + 1);
  std::vector<unsigned int> types;
  types.reserve(params.size());
  for (const Param& p : params) types.push_back(p.type);
  std::unique_ptr<pg_result, void (*)(pg_result*)> r(
      PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(types.size()), types.data()), PQclear);
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    return std::unexpected(Failure(r.get(), ("prepare " + FirstWords(sql)).c_str()));
  }
  prepared_.emplace(sql, name);
  return name;
}

Result<Rows> Connection::Exec(const std::string& sql, std::span<const Param> params) {
  auto name = Prepared(sql, params);
  if (!name) return std::unexpected(name.error());
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats(params.size(), 1);
  values.reserve(params.size());
  lengths.reserve(params.size());
  for (const Param& p : params) {
    values.push_back(p.is_null ? nullptr : p.bytes.data());
    lengths.push_back(static_cast<int>(p.bytes.size()));
  }
  pg_result* r = PQexecPrepared(conn_, name->c_str(), static_cast<int>(params.size()), values.data(), lengths.data(),
                                formats.data(), /*resultFormat=*/1);
  Rows rows(r);
  const ExecStatusType status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return std::unexpected(Failure(r, FirstWords(sql).c_str()));
  }
  last_sqlstate_.clear();
  return rows;
}

Status Connection::Run(const char* sql) {
  std::unique_ptr<pg_result, void (*)(pg_result*)> r(PQexec(conn_, sql), PQclear);
  const ExecStatusType status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return std::unexpected(Failure(r.get(), FirstWords(sql).c_str()));
  }
  last_sqlstate_.clear();
  return Ok();
}

}  // namespace dl::adapters::postgres
