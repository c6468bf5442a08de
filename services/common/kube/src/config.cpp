#include "kubemend/kube/config.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "base64.h"

namespace kubemend::kube {
namespace {

namespace fs = std::filesystem;

Error ConfigError(std::string message) { return MakeError(ErrorKind::kConfig, std::move(message)); }

Result<std::string> ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return ConfigError(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string Trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return "";
  }
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// One named entry of clusters/users/contexts, with the directory of the
// file that defined it (relative paths inside resolve against it).
struct Entry {
  YAML::Node body;
  fs::path dir;
  std::string file;
};

struct Merged {
  std::map<std::string, Entry> clusters;
  std::map<std::string, Entry> users;
  std::map<std::string, Entry> contexts;
  std::string current_context;
  std::vector<std::string> files;
};

// Reads an optional string field; an error if it is there but not a scalar.
Result<std::string> StringField(const YAML::Node& node, const char* key, const std::string& where) {
  const YAML::Node value = node[key];
  if (!value.IsDefined() || value.IsNull()) {
    return std::string();
  }
  if (!value.IsScalar()) {
    return ConfigError(fmt::format("{}: {} must be a string", where, key));
  }
  return value.Scalar();
}

Result<bool> BoolField(const YAML::Node& node, const char* key, const std::string& where) {
  const YAML::Node value = node[key];
  if (!value.IsDefined() || value.IsNull()) {
    return false;
  }
  bool out = false;
  if (!value.IsScalar() || !YAML::convert<bool>::decode(value, out)) {
    return ConfigError(fmt::format("{}: {} must be true or false", where, key));
  }
  return out;
}

Result<void> MergeSection(const YAML::Node& root, const char* section, const char* inner, const std::string& file,
                          std::map<std::string, Entry>& into) {
  const YAML::Node list = root[section];
  if (!list.IsDefined() || list.IsNull()) {
    return {};
  }
  if (!list.IsSequence()) {
    return ConfigError(fmt::format("kubeconfig {}: {} must be a list", file, section));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    const std::string where = fmt::format("kubeconfig {}: {}[{}]", file, section, i);
    if (!item.IsMap()) {
      return ConfigError(fmt::format("{}: must be a mapping with name and {}", where, inner));
    }
    auto name = StringField(item, "name", where);
    if (!name.ok()) {
      return name.error();
    }
    if (name->empty()) {
      return ConfigError(fmt::format("{}: missing name", where));
    }
    const YAML::Node body = item[inner];
    if (body.IsDefined() && !body.IsNull() && !body.IsMap()) {
      return ConfigError(fmt::format("{} \"{}\": {} must be a mapping", where, *name, inner));
    }
    // The first file that defines a name wins, as in client-go.
    into.emplace(*name, Entry{body.IsMap() ? body : YAML::Node(YAML::NodeType::Map),
                              fs::path(file).parent_path(), file});
  }
  return {};
}

Result<void> MergeFile(const std::string& file, Merged& merged) {
  auto text = ReadWholeFile(file);
  if (!text.ok()) {
    return ConfigError("kubeconfig " + text.error().message);
  }
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return ConfigError(fmt::format("kubeconfig {}: not valid YAML: {}", file, e.what()));
  }
  merged.files.push_back(file);
  if (root.IsNull() || !root.IsDefined()) {
    return {};
  }
  if (!root.IsMap()) {
    return ConfigError(fmt::format("kubeconfig {}: top level must be a mapping", file));
  }
  for (const auto& [section, inner] : {std::pair{"clusters", "cluster"}, {"users", "user"}, {"contexts", "context"}}) {
    auto& into = std::string_view(section) == "clusters" ? merged.clusters
                 : std::string_view(section) == "users"  ? merged.users
                                                         : merged.contexts;
    if (auto r = MergeSection(root, section, inner, file, into); !r.ok()) {
      return r.error();
    }
  }
  auto current = StringField(root, "current-context", fmt::format("kubeconfig {}", file));
  if (!current.ok()) {
    return current.error();
  }
  if (merged.current_context.empty()) {
    merged.current_context = *current;
  }
  return {};
}

std::string Resolve(const fs::path& dir, const std::string& path) {
  const fs::path p(path);
  return p.is_absolute() ? p.string() : (dir / p).string();
}

// "x-data" (base64) wins over "x" (a file path), as in client-go.
Result<std::string> DataOrFile(const Entry& entry, const char* data_key, const char* file_key,
                               const std::string& where) {
  auto data = StringField(entry.body, data_key, where);
  if (!data.ok()) {
    return data.error();
  }
  if (!data->empty()) {
    auto decoded = internal::Base64Decode(*data);
    if (!decoded) {
      return ConfigError(fmt::format("{}: {} is not valid base64", where, data_key));
    }
    return *decoded;
  }
  auto path = StringField(entry.body, file_key, where);
  if (!path.ok()) {
    return path.error();
  }
  if (path->empty()) {
    return std::string();
  }
  auto contents = ReadWholeFile(Resolve(entry.dir, *path));
  if (!contents.ok()) {
    return ConfigError(fmt::format("{}: {}: {}", where, file_key, contents.error().message));
  }
  return *contents;
}

std::string JoinKeys(const std::map<std::string, Entry>& m) {
  std::string out;
  for (const auto& [name, entry] : m) {
    out += out.empty() ? "" : ", ";
    out += name;
  }
  return out.empty() ? "none" : out;
}

Result<ClientConfig> Build(const Merged& merged, const std::string& requested_context) {
  const std::string files = fmt::format("{}", fmt::join(merged.files, ":"));
  const std::string context_name = requested_context.empty() ? merged.current_context : requested_context;
  if (context_name.empty()) {
    return ConfigError(fmt::format("kubeconfig {}: no current-context set and no context requested", files));
  }
  const auto ctx_it = merged.contexts.find(context_name);
  if (ctx_it == merged.contexts.end()) {
    return ConfigError(fmt::format("kubeconfig {}: context \"{}\" not found (known: {})", files, context_name,
                                   JoinKeys(merged.contexts)));
  }
  const Entry& ctx = ctx_it->second;
  const std::string ctx_where = fmt::format("kubeconfig {}: contexts[\"{}\"]", ctx.file, context_name);
  auto cluster_name = StringField(ctx.body, "cluster", ctx_where);
  auto user_name = StringField(ctx.body, "user", ctx_where);
  auto ns = StringField(ctx.body, "namespace", ctx_where);
  for (const auto* r : {&cluster_name, &user_name, &ns}) {
    if (!r->ok()) {
      return r->error();
    }
  }
  if (cluster_name->empty()) {
    return ConfigError(fmt::format("{}: missing cluster", ctx_where));
  }

  ClientConfig config;
  config.source = fmt::format("kubeconfig {} context={}", files, context_name);
  config.default_namespace = ns->empty() ? "default" : *ns;

  const auto cluster_it = merged.clusters.find(*cluster_name);
  if (cluster_it == merged.clusters.end()) {
    return ConfigError(fmt::format("{}: cluster \"{}\" not found (known: {})", ctx_where, *cluster_name,
                                   JoinKeys(merged.clusters)));
  }
  const Entry& cluster = cluster_it->second;
  const std::string cluster_where = fmt::format("kubeconfig {}: clusters[\"{}\"]", cluster.file, *cluster_name);
  auto server = StringField(cluster.body, "server", cluster_where);
  if (!server.ok()) {
    return server.error();
  }
  if (server->empty()) {
    return ConfigError(fmt::format("{}: missing server", cluster_where));
  }
  if (server->rfind("https://", 0) != 0 && server->rfind("http://", 0) != 0) {
    return ConfigError(fmt::format("{}: server \"{}\" must start with https:// or http://", cluster_where, *server));
  }
  config.server = *server;
  while (!config.server.empty() && config.server.back() == '/') {
    config.server.pop_back();
  }
  auto ca = DataOrFile(cluster, "certificate-authority-data", "certificate-authority", cluster_where);
  if (!ca.ok()) {
    return ca.error();
  }
  config.ca_pem = std::move(*ca);
  auto insecure = BoolField(cluster.body, "insecure-skip-tls-verify", cluster_where);
  if (!insecure.ok()) {
    return insecure.error();
  }
  config.insecure_skip_tls_verify = *insecure;

  if (user_name->empty()) {
    return config;  // anonymous
  }
  const auto user_it = merged.users.find(*user_name);
  if (user_it == merged.users.end()) {
    return ConfigError(
        fmt::format("{}: user \"{}\" not found (known: {})", ctx_where, *user_name, JoinKeys(merged.users)));
  }
  const Entry& user = user_it->second;
  const std::string user_where = fmt::format("kubeconfig {}: users[\"{}\"]", user.file, *user_name);

  auto token = StringField(user.body, "token", user_where);
  auto token_file = StringField(user.body, "tokenFile", user_where);
  auto username = StringField(user.body, "username", user_where);
  auto password = StringField(user.body, "password", user_where);
  for (const auto* r : {&token, &token_file, &username, &password}) {
    if (!r->ok()) {
      return r->error();
    }
  }
  config.bearer_token = *token;
  if (config.bearer_token.empty() && !token_file->empty()) {
    config.bearer_token_file = Resolve(user.dir, *token_file);
    auto contents = ReadWholeFile(config.bearer_token_file);
    if (!contents.ok()) {
      return ConfigError(fmt::format("{}: tokenFile: {}", user_where, contents.error().message));
    }
    config.bearer_token = Trim(std::move(*contents));
    if (config.bearer_token.empty()) {
      return ConfigError(fmt::format("{}: tokenFile {} is empty", user_where, config.bearer_token_file));
    }
  }
  config.username = *username;
  config.password = *password;
  if (!config.username.empty() && !config.bearer_token.empty()) {
    return ConfigError(fmt::format("{}: set either a token or username/password, not both", user_where));
  }
  if (config.username.empty() != config.password.empty()) {
    return ConfigError(fmt::format("{}: username and password must be set together", user_where));
  }

  auto cert = DataOrFile(user, "client-certificate-data", "client-certificate", user_where);
  if (!cert.ok()) {
    return cert.error();
  }
  auto key = DataOrFile(user, "client-key-data", "client-key", user_where);
  if (!key.ok()) {
    return key.error();
  }
  if (cert->empty() != key->empty()) {
    return ConfigError(fmt::format("{}: {} is set but {} is missing", user_where,
                                   cert->empty() ? "client-key" : "client-certificate",
                                   cert->empty() ? "client-certificate(-data)" : "client-key(-data)"));
  }
  config.client_cert_pem = std::move(*cert);
  config.client_key_pem = std::move(*key);

  const bool has_credentials =
      !config.bearer_token.empty() || !config.username.empty() || !config.client_cert_pem.empty();
  if (!has_credentials && (user.body["exec"].IsDefined() || user.body["auth-provider"].IsDefined())) {
    return ConfigError(fmt::format(
        "{}: exec and auth-provider credential plugins are not supported; use a token, tokenFile or a client "
        "certificate",
        user_where));
  }
  return config;
}

std::vector<std::string> SplitPathList(const std::string& list) {
  std::vector<std::string> out;
  std::string current;
  for (char c : list) {
    if (c == ':') {
      if (!current.empty()) {
        out.push_back(current);
      }
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) {
    out.push_back(current);
  }
  return out;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

Result<ClientConfig> LoadKubeconfig(const KubeconfigOptions& options) {
  Merged merged;
  if (!options.path.empty()) {
    if (auto r = MergeFile(options.path, merged); !r.ok()) {
      return r.error();
    }
    return Build(merged, options.context);
  }
  const auto list = options.env("KUBECONFIG");
  if (list && !list->empty()) {
    // Files that do not exist are skipped, as kubectl does.
    for (const auto& file : SplitPathList(*list)) {
      std::error_code ec;
      if (!fs::exists(file, ec)) {
        continue;
      }
      if (auto r = MergeFile(file, merged); !r.ok()) {
        return r.error();
      }
    }
    if (merged.files.empty()) {
      return ConfigError(fmt::format("KUBECONFIG={}: none of the listed files exists", *list));
    }
    return Build(merged, options.context);
  }
  const auto home = options.env("HOME");
  if (!home || home->empty()) {
    return ConfigError("no kubeconfig: KUBECONFIG and HOME are both unset");
  }
  if (auto r = MergeFile((fs::path(*home) / ".kube" / "config").string(), merged); !r.ok()) {
    return r.error();
  }
  return Build(merged, options.context);
}

Result<ClientConfig> LoadInClusterConfig(const InClusterOptions& options) {
  const auto host = options.env("KUBERNETES_SERVICE_HOST");
  const auto port = options.env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return ConfigError(
        "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set (not running in a "
        "pod?)");
  }
  const fs::path root(options.root);
  ClientConfig config;
  // An IPv6 address needs brackets in a URL.
  config.server = host->find(':') != std::string::npos ? fmt::format("https://[{}]:{}", *host, *port)
                                                        : fmt::format("https://{}:{}", *host, *port);
  config.bearer_token_file = (root / "token").string();
  auto token = ReadWholeFile(config.bearer_token_file);
  if (!token.ok()) {
    return ConfigError(fmt::format("in-cluster: service account token: {}", token.error().message));
  }
  config.bearer_token = Trim(std::move(*token));
  if (config.bearer_token.empty()) {
    return ConfigError(fmt::format("in-cluster: service account token {} is empty", config.bearer_token_file));
  }
  auto ca = ReadWholeFile(root / "ca.crt");
  if (!ca.ok()) {
    return ConfigError(fmt::format("in-cluster: cluster CA: {}", ca.error().message));
  }
  config.ca_pem = std::move(*ca);
  std::error_code ec;
  if (fs::exists(root / "namespace", ec)) {
    auto ns = ReadWholeFile(root / "namespace");
    if (!ns.ok()) {
      return ConfigError(fmt::format("in-cluster: namespace: {}", ns.error().message));
    }
    const std::string trimmed = Trim(std::move(*ns));
    if (!trimmed.empty()) {
      config.default_namespace = trimmed;
    }
  }
  config.source = fmt::format("in-cluster {}", config.server);
  return config;
}

Result<ClientConfig> LoadDefaultConfig(const EnvLookup& env) {
  const auto host = env("KUBERNETES_SERVICE_HOST");
  if (host && !host->empty()) {
    InClusterOptions options;
    options.env = env;
    return LoadInClusterConfig(options);
  }
  KubeconfigOptions options;
  options.env = env;
  return LoadKubeconfig(options);
}

}  // namespace kubemend::kube
