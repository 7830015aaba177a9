// A minimal server for measuring the HTTP layer alone (dl_http) with wrk:
//   http_server_bench [port] [worker_threads] [io_threads]
//   wrk -t2 -c8 -d10s --latency http://127.0.0.1:PORT/healthz
//   wrk -t2 -c8 -d10s --latency -s post.lua http://127.0.0.1:PORT/echo
// Serves until stdin closes, then stops gracefully.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "http/server.h"

int main(int argc, char** argv) {
  dl::http::ServerOptions options;
  options.port = static_cast<uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);
  options.worker_threads = argc > 2 ? std::atoi(argv[2]) : 4;
  options.io_threads = argc > 3 ? std::atoi(argv[3]) : 1;
  auto router = std::make_shared<dl::http::Router>();
  router->Add("GET", "/healthz",
              [](const dl::http::Request&) { return dl::http::Response::Json(200, "\"ok\""); });
  router->Add("POST", "/echo", [](const dl::http::Request& r) {
    return dl::http::Response::Json(200, r.body);
  });
  dl::http::Server server(options, router);
  if (auto status = server.Start(); !status) {
    std::fprintf(stderr, "%s\n", status.error().message.c_str());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.Stop();
  return 0;
}
