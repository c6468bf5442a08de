#include "cli.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

namespace kubemend::ctl {
namespace {

const std::set<std::string> kGlobalFlags = {"output", "token", "token-file", "config",
                                            "stack-env", "endpoint", "tls-ca", "tls-cert",
                                            "tls-key", "timeout", "as"};
const std::set<std::string> kBoolFlags = {"help", "follow"};

// -o json / -ojson / -n ns / -nns: the short forms kubectl users type.
std::string Expand(const std::string& a, std::string* inline_value) {
  static const std::map<std::string, std::string> kShort = {{"-o", "output"}, {"-n", "namespace"}, {"-h", "help"}};
  for (const auto& [s, name] : kShort) {
    if (a == s) {
      return "--" + name;
    }
    if (a.size() > 2 && a.rfind(s, 0) == 0 && a[2] != '-' && name != "help") {
      *inline_value = a.substr(a[2] == '=' ? 3 : 2);
      return "--" + name;
    }
  }
  return a;
}

// JSON documents (one per line or one object) re-emitted as YAML documents.
bool JsonToYaml(const std::string& json, std::ostream& out) {
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(json);
    for (size_t i = 0; i < docs.size(); ++i) {
      YAML::Emitter e;
      e << docs[i];
      out << (i > 0 || docs.size() > 1 ? "---\n" : "") << e.c_str() << "\n";
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string Trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t\r\n"));
  s.erase(s.find_last_not_of(" \t\r\n") + 1);
  return s;
}

std::string Unquote(std::string s) {
  s = Trim(s);
  if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front()) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) {
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

std::string EnvKey(const std::string& service) {
  std::string s;
  for (char c : service) {
    s.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return s;
}

std::string PathString(const std::vector<std::string>& p) {
  std::string s;
  for (const auto& x : p) {
    s += (s.empty() ? "" : " ") + x;
  }
  return s;
}

void Overview(std::ostream& out, const Registry& reg, const std::string& program) {
  out << "usage: " << program << " [global flags] <command> [flags]\n\n"
         "The kubemend admin client: status of the services, the audit trail, incidents,\n"
         "approvals and modes.\n\nCommands:\n";
  for (const auto& c : reg) {
    std::string p = PathString(c.path) + (c.usage.empty() ? "" : " " + c.usage);
    out << "  " << std::left << std::setw(38) << p << " " << c.summary << "\n";
  }
  out << "\nGlobal flags:\n"
         "  -o, --output FORMAT       table, wide (full ids), json or yaml; -ojson works too\n"
         "                            (KUBEMENDCTL_OUTPUT)\n"
         "  -n, --namespace NS        on commands that filter by namespace (others refuse it)\n"
         "  --token TOKEN             bearer token (KUBEMENDCTL_TOKEN)\n"
         "  --token-file FILE         file holding the token (KUBEMENDCTL_TOKEN_FILE)\n"
         "  --endpoint SERVICE=ADDR   a service's gRPC address, repeatable\n"
         "                            (KUBEMENDCTL_<SERVICE>_ADDR, e.g. KUBEMENDCTL_AUDIT_ADDR)\n"
         "  --stack-env FILE          read addresses from ./kubemend up's <run-dir>/stack.env\n"
         "                            (KUBEMEND_STACK_ENV)\n"
         "  --config FILE             (KUBEMENDCTL_CONFIG); else $KUBEMEND_RUN_DIR/kubemendctl.yaml,\n"
         "                            else ./.run/kubemendctl.yaml (written by ./kubemend up),\n"
         "                            else ~/.config/kubemend/kubemendctl.yaml\n"
         "                            Precedence: flags > KUBEMENDCTL_* env > config > stack-env\n"
         "  --tls-ca FILE, --tls-cert FILE, --tls-key FILE\n"
         "                            TLS to the services; cert+key for mTLS (KUBEMENDCTL_TLS_*)\n"
         "  --timeout DURATION        per-call deadline: 5s, 500ms, 2m (a bare number is ms);\n"
         "                            default 10s\n"
         "  --as NAME                 a note recorded with approve, deny, pause, resume, mode\n"
         "                            set and rollback, labelled client-supplied; who issued\n"
         "                            them is always the token's subject\n\n"
         "Exit codes: 0 ok, 1 error, 2 usage, 3 unauthenticated or denied, 4 unavailable.\n"
         "Every command takes --help.\n";
}

void CommandHelp(std::ostream& out, const Command& c, const std::string& program) {
  out << "usage: " << program << " " << PathString(c.path) << (c.usage.empty() ? "" : " " + c.usage)
      << "\n\n"
      << c.summary << "\n";
  if (!c.help.empty()) {
    out << "\n" << c.help << "\n";
  }
  out << "\nGlobal flags (-o json, --token, --endpoint, ...): kubemendctl --help\n";
}

}  // namespace

const std::vector<std::string>& ServiceNames() {
  static const std::vector<std::string> names = {"collector", "analyzer", "safety-gate",
                                                 "executor", "audit"};
  return names;
}

std::shared_ptr<grpc::Channel> Context::Channel(const std::string& service) {
  if (auto it = channels_.find(service); it != channels_.end()) {
    return it->second;
  }
  auto ep = endpoints.find(service);
  if (ep == endpoints.end() || ep->second.empty()) {
    return nullptr;
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (!tls_ca.empty() || !tls_cert.empty()) {
    grpc::SslCredentialsOptions o;
    ReadFile(tls_ca, &o.pem_root_certs);
    if (!tls_cert.empty()) {
      ReadFile(tls_cert, &o.pem_cert_chain);
      ReadFile(tls_key, &o.pem_private_key);
    }
    creds = grpc::SslCredentials(o);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  auto ch = grpc::CreateChannel(ep->second, creds);
  channels_[service] = ch;
  return ch;
}

std::unique_ptr<grpc::ClientContext> Context::Call(bool streaming) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + token);
  }
  if (!streaming) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  }
  return ctx;
}

int Context::Fail(const std::string& what, const grpc::Status& st) {
  err << "kubemendctl: " << what << ": " << st.error_message();
  switch (st.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
      err << " (check --token / KUBEMENDCTL_TOKEN"
          << (config_path.empty() ? ", or KUBEMEND_RUN_DIR for a ./kubemend up stack"
                                  : "; config " + config_path)
          << ")\n";
      return kDenied;
    case grpc::StatusCode::PERMISSION_DENIED:
      err << "\n";
      return kDenied;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      err << " (is the service running? see kubemendctl status)\n";
      return kUnavailable;
    default:
      err << "\n";
      return kError;
  }
}

bool ParseInt64(const std::string& text, int64_t* out, bool allow_negative) {
  size_t start = allow_negative && !text.empty() && text[0] == '-' ? 1 : 0;
  if (text.size() <= start || text.size() - start > 18 ||
      !std::all_of(text.begin() + static_cast<long>(start), text.end(), ::isdigit)) {
    return false;
  }
  *out = std::stoll(text);
  return true;
}

bool ParseDurationMs(const std::string& text, int64_t* out_ms) {
  static const std::vector<std::pair<std::string, int64_t>> kUnits = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
  int64_t n = 0;
  if (ParseInt64(text, &n)) {
    *out_ms = n;
    return n > 0;
  }
  for (const auto& [unit, mult] : kUnits) {
    if (text.size() > unit.size() && text.compare(text.size() - unit.size(), unit.size(), unit) == 0 &&
        ParseInt64(text.substr(0, text.size() - unit.size()), &n) && n > 0) {
      *out_ms = n * mult;
      return true;
    }
  }
  return false;
}

std::string Abbrev(const Context& ctx, const std::string& s, size_t n) { return ctx.wide ? s : s.substr(0, n); }

std::string CtlVersion() { return "0.1.0"; }

std::string FormatTime(int64_t seconds) {
  if (seconds == 0) {
    return "-";
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool ParseSince(const std::string& text, int64_t now_s, int64_t* out_s) {
  if (text.empty()) {
    return false;
  }
  char unit = text.back();
  std::string num = text.substr(0, text.size() - 1);
  int64_t n = 0;
  if (ParseInt64(num, &n)) {
    int64_t mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
    if (mult) {
      *out_s = now_s - n * mult;
      return true;
    }
  }
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) {
    std::istringstream d(text);
    d >> std::get_time(&tm, "%Y-%m-%d");
    if (d.fail()) {
      return false;
    }
  }
  *out_s = timegm(&tm);
  return true;
}

namespace {
// ACTION_TYPE_RESTART_POD -> RestartPod; VERDICT_APPROVED -> approved.
std::string EnumSuffix(const std::string& full, const std::string& prefix) {
  return full.rfind(prefix, 0) == 0 ? full.substr(prefix.size()) : full;
}
std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
}  // namespace

std::string ModeName(v1::Mode m) {
  return m == v1::MODE_UNSPECIFIED ? "-" : Lower(EnumSuffix(v1::Mode_Name(m), "MODE_"));
}

bool ParseMode(const std::string& text, bool allow_clear, v1::Mode* out) {
  std::string t = Lower(text);
  if (t == "dryrun" || t == "dry-run") {
    t = "dry_run";
  }
  if (allow_clear && (t == "clear" || t == "unset")) {
    *out = v1::MODE_UNSPECIFIED;
    return true;
  }
  v1::Mode m;
  std::string upper = "MODE_" + t;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (t.empty() || !v1::Mode_Parse(upper, &m) || m == v1::MODE_UNSPECIFIED) {
    return false;
  }
  *out = m;
  return true;
}

std::string ActionName(v1::ActionType t) {
  if (t == v1::ACTION_TYPE_UNSPECIFIED) {
    return "-";
  }
  std::string words = EnumSuffix(v1::ActionType_Name(t), "ACTION_TYPE_");
  std::string out;
  bool up = true;
  for (char c : words) {
    if (c == '_') {
      up = true;
      continue;
    }
    out.push_back(up ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    up = false;
  }
  return out;
}

std::string VerdictName(const v1::SafetyDecision& d) {
  if (d.verdict() == v1::VERDICT_UNSPECIFIED) {
    return "-";
  }
  return Lower(EnumSuffix(v1::Verdict_Name(d.verdict()), "VERDICT_"));
}

std::string OutcomeName(v1::OutcomeStatus s) {
  return Lower(EnumSuffix(v1::OutcomeStatus_Name(s), "OUTCOME_STATUS_"));
}

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) {
    w[i] = header[i].size();
  }
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) {
      w[i] = std::max(w[i], r[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t i = 0; i < w.size(); ++i) {
      std::string cell = i < r.size() ? r[i] : "";
      s += cell;
      if (i + 1 < w.size()) {
        s += std::string(w[i] - cell.size() + 2, ' ');
      }
    }
    out << Trim(s) << "\n";
  };
  line(header);
  for (const auto& r : rows) {
    line(r);
  }
}

namespace {

using EnvGet = std::function<std::string(const std::string&)>;

// Where credentials and endpoints come from. Each step overwrites what the
// one before found, so the last one wins: the stack.env, then the config
// file, then KUBEMENDCTL_* variables, then flags.
struct Sources {
  const Args& args;
  const EnvGet& env;
  std::ostream& err;
  std::vector<std::string> endpoint_flags;
  std::string config_token, config_token_file;
};

// argv into flags and positionals; kOk or kUsage.
int ParseArgv(const std::vector<std::string>& argv, std::ostream& err, Args* args,
              std::vector<std::string>* endpoint_flags) {
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string value;
    std::string a = Expand(argv[i], &value);
    if (a.rfind("--", 0) != 0 || a.size() <= 2) {
      args->positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    auto eq = name.find('=');
    if (!value.empty()) {
      // -ojson / -nshop: the value came with the short flag.
    } else if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (kBoolFlags.count(name)) {
      value = "true";
    } else if (i + 1 < argv.size()) {
      value = argv[++i];
    } else {
      err << "kubemendctl: --" << name << " needs a value\n";
      return kUsage;
    }
    if (name == "endpoint") {
      endpoint_flags->push_back(value);
    }
    args->flags[name] = value;
  }
  return kOk;
}

// The longest command path the positionals start with, or nullptr.
const Command* FindCommand(const Registry& reg, const Args& args) {
  const Command* cmd = nullptr;
  for (const auto& c : reg) {
    if (c.path.size() <= args.positional.size() &&
        std::equal(c.path.begin(), c.path.end(), args.positional.begin()) &&
        (!cmd || c.path.size() > cmd->path.size())) {
      cmd = &c;
    }
  }
  return cmd;
}

int LoadStackEnv(Sources& src, Context& ctx) {
  std::string stack_env = src.args.Get("stack-env", src.env("KUBEMEND_STACK_ENV"));
  if (stack_env.empty()) {
    return kOk;
  }
  std::string text;
  if (!ReadFile(stack_env, &text)) {
    src.err << "kubemendctl: --stack-env " << stack_env << ": cannot read\n";
    return kUsage;
  }
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    for (const auto& s : ServiceNames()) {
      std::string key = "KUBEMEND_" + EnvKey(s) + "_GRPC=";
      if (line.rfind(key, 0) == 0) {
        ctx.endpoints[s] = Unquote(line.substr(key.size()));
      }
    }
  }
  return kOk;
}

// The config file, first found: --config, KUBEMENDCTL_CONFIG,
// $KUBEMEND_RUN_DIR/kubemendctl.yaml (these three must be readable),
// ./.run/kubemendctl.yaml (what `./kubemend up` writes in the clone),
// ~/.config/kubemend/kubemendctl.yaml. "" when none exists.
std::string FindConfig(const Sources& src, bool* must_exist) {
  *must_exist = true;
  if (std::string c = src.args.Get("config", src.env("KUBEMENDCTL_CONFIG")); !c.empty()) {
    return c;
  }
  if (std::string run = src.env("KUBEMEND_RUN_DIR"); !run.empty()) {
    return run + "/kubemendctl.yaml";
  }
  *must_exist = false;
  std::vector<std::string> candidates = {".run/kubemendctl.yaml"};
  if (!src.env("HOME").empty()) {
    candidates.push_back(src.env("HOME") + "/.config/kubemend/kubemendctl.yaml");
  }
  for (const auto& c : candidates) {
    if (std::ifstream(c).good()) {
      return c;
    }
  }
  return "";
}

int LoadConfig(Sources& src, Context& ctx) {
  bool must_exist = false;
  std::string config = FindConfig(src, &must_exist);
  if (config.empty()) {
    return kOk;
  }
  auto expand = [&](std::string path) {
    if (path.rfind("~/", 0) == 0 && !src.env("HOME").empty()) {
      path = src.env("HOME") + path.substr(1);
    }
    return path;
  };
  std::string text;
  if (!ReadFile(config, &text)) {
    if (must_exist) {
      src.err << "kubemendctl: config " << config << ": cannot read"
              << (src.env("KUBEMEND_RUN_DIR").empty() ? "" : " (from KUBEMEND_RUN_DIR; is the stack up?)")
              << "\n";
      return kUsage;
    }
    return kOk;
  }
  ctx.config_path = config;
  try {
    YAML::Node root = YAML::Load(text);
    for (const auto& kv : root["endpoints"]) {
      ctx.endpoints[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
    if (root["token"]) {
      src.config_token = root["token"].as<std::string>();
    }
    if (root["token_file"]) {
      src.config_token_file = expand(root["token_file"].as<std::string>());
    }
    if (root["tls"]) {
      auto tls = root["tls"];
      ctx.tls_ca = tls["ca_file"] ? expand(tls["ca_file"].as<std::string>()) : "";
      ctx.tls_cert = tls["cert_file"] ? expand(tls["cert_file"].as<std::string>()) : "";
      ctx.tls_key = tls["key_file"] ? expand(tls["key_file"].as<std::string>()) : "";
    }
  } catch (const std::exception& e) {
    src.err << "kubemendctl: config " << config << ": " << e.what() << "\n";
    return kUsage;
  }
  return kOk;
}

int ApplyEndpointOverrides(Sources& src, Context& ctx) {
  for (const auto& s : ServiceNames()) {
    if (auto v = src.env("KUBEMENDCTL_" + EnvKey(s) + "_ADDR"); !v.empty()) {
      ctx.endpoints[s] = v;
    }
  }
  for (const auto& e : src.endpoint_flags) {
    auto eq = e.find('=');
    if (eq == std::string::npos ||
        std::find(ServiceNames().begin(), ServiceNames().end(), e.substr(0, eq)) ==
            ServiceNames().end()) {
      src.err << "kubemendctl: --endpoint wants SERVICE=HOST:PORT with SERVICE one of collector, "
                 "analyzer, safety-gate, executor, audit; got '"
              << e << "'\n";
      return kUsage;
    }
    ctx.endpoints[e.substr(0, eq)] = e.substr(eq + 1);
  }
  return kOk;
}

// Token: --token, --token-file, KUBEMENDCTL_TOKEN, KUBEMENDCTL_TOKEN_FILE,
// then the config file's token, then its token_file.
int ResolveToken(Sources& src, Context& ctx) {
  const Args& args = src.args;
  std::string token_file = args.Get("token-file", src.env("KUBEMENDCTL_TOKEN_FILE"));
  if (args.Has("token")) {
    ctx.token = args.Get("token");
  } else if (args.Has("token-file") || (!src.env("KUBEMENDCTL_TOKEN_FILE").empty() &&
                                        src.env("KUBEMENDCTL_TOKEN").empty())) {
    if (!ReadFile(token_file, &ctx.token)) {
      src.err << "kubemendctl: token file " << token_file << ": cannot read\n";
      return kUsage;
    }
  } else if (!src.env("KUBEMENDCTL_TOKEN").empty()) {
    ctx.token = src.env("KUBEMENDCTL_TOKEN");
  } else if (!src.config_token.empty()) {
    ctx.token = src.config_token;
  } else if (!src.config_token_file.empty() && !ReadFile(src.config_token_file, &ctx.token)) {
    src.err << "kubemendctl: token_file " << src.config_token_file << " (from " << ctx.config_path
            << "): cannot read\n";
    return kUsage;
  }
  ctx.token = Trim(ctx.token);
  return kOk;
}

int ResolveTls(Sources& src, Context& ctx) {
  auto pick = [&](const char* flag, const char* var, const std::string& from_config) {
    std::string v = src.env(var);
    return src.args.Get(flag, v.empty() ? from_config : v);
  };
  ctx.tls_ca = pick("tls-ca", "KUBEMENDCTL_TLS_CA", ctx.tls_ca);
  ctx.tls_cert = pick("tls-cert", "KUBEMENDCTL_TLS_CERT", ctx.tls_cert);
  ctx.tls_key = pick("tls-key", "KUBEMENDCTL_TLS_KEY", ctx.tls_key);
  for (const auto& [flag, path] : {std::pair{"tls-ca", ctx.tls_ca}, std::pair{"tls-cert", ctx.tls_cert},
                                    std::pair{"tls-key", ctx.tls_key}}) {
    std::string content;
    if (!path.empty() && !ReadFile(path, &content)) {
      src.err << "kubemendctl: --" << flag << " " << path << ": cannot read (" << std::strerror(errno)
              << ")\n";
      return kUsage;
    }
  }
  if (!ctx.tls_cert.empty() != !ctx.tls_key.empty()) {
    src.err << "kubemendctl: --tls-cert and --tls-key go together (mTLS)\n";
    return kUsage;
  }
  return kOk;
}

// -o, --as and --timeout. *yaml: print the JSON as YAML.
int ResolvePresentation(Sources& src, Context& ctx, bool* yaml) {
  std::string output = src.args.Get("output", src.env("KUBEMENDCTL_OUTPUT"));
  *yaml = output == "yaml";
  if (output == "json" || *yaml) {
    ctx.json = true;
  } else if (output == "wide") {
    ctx.wide = true;
  } else if (!output.empty() && output != "table") {
    src.err << "kubemendctl: --output wants table, wide, json or yaml, got '" << output << "'\n";
    return kUsage;
  }
  if (src.args.Has("as")) {
    ctx.note = src.args.Get("as");
    if (ctx.note.empty()) {
      src.err << "kubemendctl: --as wants a name\n";
      return kUsage;
    }
  }
  if (src.args.Has("timeout")) {
    int64_t ms = 0;
    if (!ParseDurationMs(src.args.Get("timeout"), &ms) || ms > 24 * 3600 * 1000) {
      src.err << "kubemendctl: --timeout wants a duration such as 5s, 500ms or 2m, got '"
              << src.args.Get("timeout") << "'\n";
      return kUsage;
    }
    ctx.timeout_ms = static_cast<int>(ms);
  }
  return kOk;
}

// Runs the command; with -o yaml its JSON output is converted.
int RunCommand(const Command& cmd, Context& ctx, const Args& args, bool yaml, std::ostream& out,
               std::ostream& err) {
  if (!yaml) {
    return cmd.run(ctx, args);
  }
  std::ostringstream buffer;
  Context yctx(buffer, err);
  yctx.json = true;
  yctx.endpoints = ctx.endpoints;
  yctx.token = ctx.token;
  yctx.tls_ca = ctx.tls_ca;
  yctx.tls_cert = ctx.tls_cert;
  yctx.tls_key = ctx.tls_key;
  yctx.timeout_ms = ctx.timeout_ms;
  yctx.note = ctx.note;
  yctx.config_path = ctx.config_path;
  yctx.program = ctx.program;
  yctx.kubectl = ctx.kubectl;
  int code = cmd.run(yctx, args);
  if (!buffer.str().empty() && !JsonToYaml(buffer.str(), out)) {
    out << buffer.str();
  }
  return code;
}

}  // namespace

int Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
        std::ostream& out, std::ostream& err) {
  Registry reg;
  RegisterStatusCommands(reg);
  RegisterAuditCommands(reg);
  RegisterGateCommands(reg);
  RegisterAnalyzerCommands(reg);
  RegisterExecutorCommands(reg);
  RegisterKubeCommands(reg);
  RegisterCompletionCommand(reg);
  const std::string argv0 = argv.empty() ? "" : argv[0];
  const std::string base = argv0.substr(argv0.find_last_of('/') + 1);
  if (base == kPluginCompletionName) {
    return CompleteWords(reg, std::vector<std::string>(argv.begin() + 1, argv.end()), true, out);
  }
  const bool plugin = base == kPluginName;
  const std::string program = plugin ? "kubectl kubemend" : "kubemendctl";

  Args args;
  std::vector<std::string> endpoint_flags;
  if (int rc = ParseArgv(argv, err, &args, &endpoint_flags); rc != kOk) {
    return rc;
  }
  // As the kubectl plugin, approve/deny answer a HealingAction in Kubernetes.
  if (plugin && !args.positional.empty() && (args.positional[0] == "approve" || args.positional[0] == "deny")) {
    args.positional.insert(args.positional.begin(), "kube");
  }
  const Command* cmd = FindCommand(reg, args);
  if (!cmd && args.positional.size() == 1 && args.positional[0] == "version") {
    out << "kubemendctl " << CtlVersion() << "\n";
    return kOk;
  }
  if (!cmd) {
    if (args.positional.empty() && args.Has("help")) {
      Overview(out, reg, program);
      return kOk;
    }
    Overview(err, reg, program);
    if (!args.positional.empty()) {
      err << "\nkubemendctl: unknown command '" << PathString(args.positional) << "'\n";
    }
    return kUsage;
  }
  if (args.Has("help")) {
    CommandHelp(out, *cmd, program);
    return kOk;
  }
  args.positional.erase(args.positional.begin(),
                        args.positional.begin() + static_cast<long>(cmd->path.size()));
  for (const auto& [name, value] : args.flags) {
    if (!kGlobalFlags.count(name) &&
        std::find(cmd->flags.begin(), cmd->flags.end(), name) == cmd->flags.end()) {
      err << "kubemendctl " << PathString(cmd->path) << ": unknown flag --" << name
          << (name == "namespace" ? " (this command does not filter by namespace)" : "") << " (see --help)\n";
      return kUsage;
    }
  }

  Context ctx(out, err);
  ctx.program = program;
  if (auto k = env.find("KUBEMENDCTL_KUBECTL"); k != env.end() && !k->second.empty()) {
    ctx.kubectl = k->second;
  }
  EnvGet env_get = [&](const std::string& k) {
    auto it = env.find(k);
    return it == env.end() ? std::string() : it->second;
  };
  Sources src{args, env_get, err, endpoint_flags, "", ""};
  bool yaml = false;
  for (auto step : {LoadStackEnv, LoadConfig, ApplyEndpointOverrides, ResolveToken, ResolveTls}) {
    if (int rc = step(src, ctx); rc != kOk) {
      return rc;
    }
  }
  if (int rc = ResolvePresentation(src, ctx, &yaml); rc != kOk) {
    return rc;
  }
  return RunCommand(*cmd, ctx, args, yaml, out, err);
}

}  // namespace kubemend::ctl
