#include "kubemend/common/config.h"

#include <absl/strings/ascii.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>

#include <algorithm>
#include <fstream>
#include <sstream>

extern char** environ;

namespace kubemend {
namespace {

absl::Status Bad(const std::string& key, const std::string& why) {
  return absl::InvalidArgumentError("key " + key + ": " + why);
}

std::string Scalar(const YAML::Node& n) { return n.as<std::string>(); }

absl::Status ParseBool(const std::string& key, const std::string& v, bool* out) {
  std::string l = absl::AsciiStrToLower(v);
  if (l == "true" || l == "yes" || l == "on" || l == "1") {
    *out = true;
  } else if (l == "false" || l == "no" || l == "off" || l == "0") {
    *out = false;
  } else {
    return Bad(key, "expected true or false, got \"" + v + "\"");
  }
  return absl::OkStatus();
}

std::vector<std::string> SplitList(const std::string& v) {
  std::vector<std::string> out;
  for (auto part : absl::StrSplit(v, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

}  // namespace

Env EnvFromProcess() {
  Env env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) {
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  return env;
}

std::string EnvNameForKey(const std::string& key) {
  std::string out = "KUBEMEND_";
  for (char c : key) {
    out.push_back((c == '.' || c == '-') ? '_' : static_cast<char>(absl::ascii_toupper(c)));
  }
  return out;
}

absl::Status ParseDuration(const std::string& text, std::chrono::milliseconds* out) {
  std::string t(absl::StripAsciiWhitespace(text));
  size_t i = 0;
  while (i < t.size() && (absl::ascii_isdigit(t[i]) || t[i] == '.')) {
    ++i;
  }
  double n = 0;
  if (i == 0 || !absl::SimpleAtod(t.substr(0, i), &n) || n < 0) {
    return absl::InvalidArgumentError("\"" + text + "\" is not a duration (e.g. 500ms, 10s, 5m, 2h)");
  }
  std::string unit = t.substr(i);
  double ms = 0;
  if (unit.empty() || unit == "ms") {
    ms = n;
  } else if (unit == "s") {
    ms = n * 1000;
  } else if (unit == "m") {
    ms = n * 60000;
  } else if (unit == "h") {
    ms = n * 3600000;
  } else if (unit == "d") {
    ms = n * 86400000;
  } else {
    return absl::InvalidArgumentError("\"" + text + "\" has an unknown unit (use ms, s, m, h, d)");
  }
  *out = std::chrono::milliseconds(static_cast<int64_t>(ms));
  return absl::OkStatus();
}

void ConfigSchema::Add(const std::string& key, std::string* field, std::string help) {
  entries_.push_back({key, std::move(help), false,
                      [field, key](const YAML::Node& n) {
                        if (!n.IsScalar()) {
                          return Bad(key, "expected a string");
                        }
                        *field = Scalar(n);
                        return absl::OkStatus();
                      },
                      [field](const std::string& v) {
                        *field = v;
                        return absl::OkStatus();
                      }});
}

void ConfigSchema::Add(const std::string& key, int64_t* field, std::string help, int64_t min,
                       int64_t max) {
  auto set = [field, key, min, max](const std::string& v) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(v, &n)) {
      return Bad(key, "expected an integer, got \"" + v + "\"");
    }
    if (n < min || n > max) {
      return Bad(key, std::to_string(n) + " is out of range [" + std::to_string(min) + ", " +
                          std::to_string(max) + "]");
    }
    *field = n;
    return absl::OkStatus();
  };
  entries_.push_back({key, std::move(help), false,
                      [set, key](const YAML::Node& n) {
                        if (!n.IsScalar()) {
                          return Bad(key, "expected an integer");
                        }
                        return set(Scalar(n));
                      },
                      set});
}

void ConfigSchema::Add(const std::string& key, double* field, std::string help) {
  auto set = [field, key](const std::string& v) {
    double d = 0;
    if (!absl::SimpleAtod(v, &d)) {
      return Bad(key, "expected a number, got \"" + v + "\"");
    }
    *field = d;
    return absl::OkStatus();
  };
  entries_.push_back({key, std::move(help), false,
                      [set, key](const YAML::Node& n) {
                        if (!n.IsScalar()) {
                          return Bad(key, "expected a number");
                        }
                        return set(Scalar(n));
                      },
                      set});
}

void ConfigSchema::Add(const std::string& key, bool* field, std::string help) {
  auto set = [field, key](const std::string& v) { return ParseBool(key, v, field); };
  entries_.push_back({key, std::move(help), false,
                      [set, key](const YAML::Node& n) {
                        if (!n.IsScalar()) {
                          return Bad(key, "expected true or false");
                        }
                        return set(Scalar(n));
                      },
                      set});
}

void ConfigSchema::Add(const std::string& key, std::chrono::milliseconds* field, std::string help) {
  auto set = [field, key](const std::string& v) {
    absl::Status st = ParseDuration(v, field);
    return st.ok() ? st : Bad(key, std::string(st.message()));
  };
  entries_.push_back({key, std::move(help), false,
                      [set, key](const YAML::Node& n) {
                        if (!n.IsScalar()) {
                          return Bad(key, "expected a duration");
                        }
                        return set(Scalar(n));
                      },
                      set});
}

void ConfigSchema::Add(const std::string& key, std::vector<std::string>* field, std::string help) {
  entries_.push_back({key, std::move(help), false,
                      [field, key](const YAML::Node& n) {
                        if (n.IsNull()) {
                          field->clear();
                          return absl::OkStatus();
                        }
                        if (!n.IsSequence()) {
                          return Bad(key, "expected a list");
                        }
                        field->clear();
                        for (const auto& item : n) {
                          if (!item.IsScalar()) {
                            return Bad(key, "list items must be strings");
                          }
                          field->push_back(Scalar(item));
                        }
                        return absl::OkStatus();
                      },
                      [field](const std::string& v) {
                        *field = SplitList(v);
                        return absl::OkStatus();
                      }});
}

void ConfigSchema::Add(const std::string& key, std::map<std::string, std::string>* field,
                       std::string help) {
  entries_.push_back({key, std::move(help), false,
                      [field, key](const YAML::Node& n) {
                        if (n.IsNull()) {
                          return absl::OkStatus();
                        }
                        if (!n.IsMap()) {
                          return Bad(key, "expected a map of strings");
                        }
                        for (const auto& kv : n) {
                          if (!kv.second.IsScalar()) {
                            return Bad(key + "." + kv.first.as<std::string>(), "expected a string");
                          }
                          (*field)[kv.first.as<std::string>()] = Scalar(kv.second);
                        }
                        return absl::OkStatus();
                      },
                      [field, key](const std::string& v) {
                        for (const auto& item : SplitList(v)) {
                          auto eq = item.find('=');
                          if (eq == std::string::npos) {
                            return Bad(key, "expected k=v pairs, got \"" + item + "\"");
                          }
                          (*field)[item.substr(0, eq)] = item.substr(eq + 1);
                        }
                        return absl::OkStatus();
                      }});
}

void ConfigSchema::AddEnum(const std::string& key, std::string* field,
                           std::vector<std::string> allowed, std::string help) {
  auto set = [field, key, allowed](const std::string& v) {
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) {
        list += (list.empty() ? "" : ", ") + a;
      }
      return Bad(key, "\"" + v + "\" is not one of: " + list);
    }
    *field = v;
    return absl::OkStatus();
  };
  entries_.push_back({key, std::move(help), false,
                      [set, key](const YAML::Node& n) {
                        if (!n.IsScalar()) {
                          return Bad(key, "expected a string");
                        }
                        return set(Scalar(n));
                      },
                      set});
}

void ConfigSchema::AddNode(const std::string& key, YAML::Node* field, std::string help) {
  entries_.push_back({key, std::move(help), true,
                      [field](const YAML::Node& n) {
                        *field = YAML::Clone(n);
                        return absl::OkStatus();
                      },
                      nullptr});
}

absl::Status ConfigSchema::Walk(const YAML::Node& node, const std::string& prefix,
                                const std::string& origin) {
  for (const auto& kv : node) {
    std::string key = prefix.empty() ? kv.first.as<std::string>()
                                     : prefix + "." + kv.first.as<std::string>();
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const Entry& e) { return e.key == key; });
    if (it != entries_.end()) {
      absl::Status st = it->from_yaml(kv.second);
      if (!st.ok()) {
        return absl::InvalidArgumentError("config " + origin + ": " + std::string(st.message()));
      }
      continue;
    }
    bool is_prefix = std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) {
      return e.key.rfind(key + ".", 0) == 0;
    });
    if (is_prefix && kv.second.IsMap()) {
      absl::Status st = Walk(kv.second, key, origin);
      if (!st.ok()) {
        return st;
      }
      continue;
    }
    if (is_prefix && kv.second.IsNull()) {
      continue;
    }
    return absl::InvalidArgumentError("config " + origin + ": key " + key +
                                      ": unknown key (see --help-config for the keys)");
  }
  return absl::OkStatus();
}

absl::Status ConfigSchema::LoadYaml(const YAML::Node& root, const std::string& origin,
                                    const Env& env) {
  if (root && !root.IsNull()) {
    if (!root.IsMap()) {
      return absl::InvalidArgumentError("config " + origin + ": top level must be a map");
    }
    absl::Status st = Walk(root, "", origin);
    if (!st.ok()) {
      return st;
    }
  }
  for (const auto& e : entries_) {
    if (e.is_node) {
      continue;
    }
    auto it = env.find(EnvNameForKey(e.key));
    if (it == env.end()) {
      continue;
    }
    absl::Status st = e.from_env(it->second);
    if (!st.ok()) {
      return absl::InvalidArgumentError("environment " + it->first + ": " +
                                        std::string(st.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ConfigSchema::Load(const std::string& path, const Env& env) {
  YAML::Node root;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) {
      return absl::NotFoundError("config " + path + ": cannot read the file");
    }
    try {
      root = YAML::Load(in);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError("config " + path + ": not valid YAML: " + e.what());
    }
  }
  return LoadYaml(root, path.empty() ? "(defaults)" : path, env);
}

std::string ConfigSchema::Describe() const {
  std::ostringstream out;
  for (const auto& e : entries_) {
    out << e.key << "  (" << (e.is_node ? "file only" : EnvNameForKey(e.key)) << ")  " << e.help
        << "\n";
  }
  return out.str();
}

}  // namespace kubemend
