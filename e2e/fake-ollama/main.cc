// fake-ollama: a scripted LLM server for tests and demos.
//   fake-ollama [--listen 127.0.0.1:0] [--script replies.json] [--ready-file F]
// Prints "listening on http://host:port" and writes the URL to --ready-file.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "fake_ollama.h"

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", script, ready;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--listen") {
      listen = argv[i + 1];
    } else if (a == "--script") {
      script = argv[i + 1];
    } else if (a == "--ready-file") {
      ready = argv[i + 1];
    } else {
      std::fprintf(stderr, "fake-ollama: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  kubemend::fake::FakeOllama server;
  if (!script.empty()) {
    std::ifstream in(script);
    std::stringstream ss;
    ss << in.rdbuf();
    std::vector<kubemend::fake::ScriptedReply> replies;
    std::string err;
    if (!in || !kubemend::fake::ParseScript(ss.str(), &replies, &err)) {
      std::fprintf(stderr, "fake-ollama: script %s: %s\n", script.c_str(), in ? err.c_str() : "unreadable");
      return 2;
    }
    server.Script(replies);
  }
  size_t colon = listen.rfind(':');
  int port = server.Start(listen.substr(0, colon), std::stoi(listen.substr(colon + 1)));
  if (port < 0) {
    std::fprintf(stderr, "fake-ollama: cannot bind %s\n", listen.c_str());
    return 1;
  }
  std::string url = "http://" + listen.substr(0, colon) + ":" + std::to_string(port);
  std::printf("listening on %s\n", url.c_str());
  std::fflush(stdout);
  if (!ready.empty()) {
    std::ofstream(ready) << url << "\n";
  }
  int sig = 0;
  sigwait(&set, &sig);
  server.Stop();
  return 0;
}
