#include "plan.h"

#include <fmt/format.h>

#include <algorithm>

namespace kubemend::executor {

using nlohmann::json;

absl::StatusOr<CountPlan> PlanCountIncrease(int64_t current, uint32_t percent, uint32_t min_step,
                                            uint32_t cap, int32_t delta) {
  if (current < 0) {
    return absl::InvalidArgumentError(fmt::format("current count {} is negative", current));
  }
  if (percent > 1000) {
    return absl::InvalidArgumentError(fmt::format("percent {} is above 1000", percent));
  }
  CountPlan p;
  p.from = current;
  std::string how;
  if (delta != 0) {
    p.to = std::max<int64_t>(0, current + delta);
    how = fmt::format("{:+d}", delta);
  } else {
    int64_t step = (current * percent + 99) / 100;
    step = std::max<int64_t>({step, min_step, 1});
    p.to = current + step;
    how = fmt::format("+{} (+{}%, min step {})", step, percent, min_step);
  }
  if (delta >= 0 && cap > 0 && current >= cap) {
    return absl::FailedPreconditionError(
        fmt::format("{} is already at or above the cap of {}; nothing to raise", current, cap));
  }
  if (cap > 0 && p.to > cap) {
    p.to = cap;
    p.capped = true;
  }
  if (p.to == current) {
    return absl::FailedPreconditionError(fmt::format("{} would stay {}; nothing to change", current, p.to));
  }
  p.reason = fmt::format("{} -> {} ({}{})", current, p.to, how,
                         p.capped ? fmt::format(", capped at {}", cap) : "");
  return p;
}

absl::StatusOr<StoragePlan> PlanStorageIncrease(const kube::Quantity& size, uint32_t percent,
                                                const std::optional<kube::Quantity>& max_size) {
  if (percent == 0 || percent > 1000) {
    return absl::InvalidArgumentError(fmt::format("percent {} must be 1..1000", percent));
  }
  auto bytes = size.ToBytes();
  if (!bytes.ok() || *bytes <= 0) {
    return absl::InvalidArgumentError("volume size " + size.ToString() + " is not a positive size");
  }
  const kube::Int128 gi = kube::Int128{1} << 30;
  const kube::Int128 mi = kube::Int128{1} << 20;
  kube::Int128 unit = *bytes >= gi ? gi : mi;
  kube::Int128 grown = (static_cast<kube::Int128>(*bytes) * (100 + percent) + 99) / 100;
  grown = (grown + unit - 1) / unit * unit;
  StoragePlan p;
  p.from = size;
  if (max_size) {
    auto cap = max_size->ToBytes();
    if (!cap.ok() || *cap <= 0) {
      return absl::InvalidArgumentError("max size " + max_size->ToString() + " is not a positive size");
    }
    if (*bytes >= *cap) {
      return absl::FailedPreconditionError(fmt::format(
          "volume size {} is already at or above the cap {}", size.ToString(), max_size->ToString()));
    }
    if (grown > *cap) {
      grown = *cap;
      p.capped = true;
    }
  }
  p.to = kube::Quantity::FromBytes(static_cast<int64_t>(grown));
  p.reason = fmt::format("storage {} -> {} (+{}%, whole {}{})", size.ToString(), p.to.ToString(), percent,
                         unit == gi ? "Gi" : "Mi",
                         p.capped ? ", capped at " + max_size->ToString() : "");
  return p;
}

absl::StatusOr<std::vector<PathSegment>> ParseFieldPath(const std::string& path) {
  std::vector<PathSegment> out;
  size_t i = 0;
  while (i < path.size()) {
    PathSegment s;
    while (i < path.size() && path[i] != '.' && path[i] != '[') {
      s.key.push_back(path[i++]);
    }
    if (i < path.size() && path[i] == '[') {
      size_t close = std::string::npos;
      if (i + 1 < path.size() && path[i + 1] == '"') {
        close = path.find("\"]", i + 2);
        if (close == std::string::npos) {
          return absl::InvalidArgumentError("unterminated [\"...\"] in path " + path);
        }
        if (!s.key.empty()) {
          out.push_back(s);
        }
        out.push_back(PathSegment{path.substr(i + 2, close - i - 2), false, ""});
        i = close + 2;
      } else {
        close = path.find(']', i);
        if (close == std::string::npos) {
          return absl::InvalidArgumentError("unterminated [...] in path " + path);
        }
        s.by_name = true;
        s.name = path.substr(i + 1, close - i - 1);
        out.push_back(s);
        i = close + 1;
      }
    } else {
      if (s.key.empty()) {
        return absl::InvalidArgumentError("empty segment in path " + path);
      }
      out.push_back(s);
    }
    if (i < path.size() && path[i] == '.') {
      ++i;
    }
  }
  if (out.empty()) {
    return absl::InvalidArgumentError("empty path");
  }
  return out;
}

namespace {

json* ElementByName(json& array, const std::string& name) {
  if (!array.is_array()) {
    return nullptr;
  }
  for (auto& e : array) {
    if (e.is_object() && e.value("name", "") == name) {
      return &e;
    }
  }
  return nullptr;
}

}  // namespace

const json* GetField(const json& object, const std::string& path) {
  auto segs = ParseFieldPath(path);
  if (!segs.ok()) {
    return nullptr;
  }
  const json* cur = &object;
  for (const auto& s : *segs) {
    if (!cur->is_object() || !cur->contains(s.key)) {
      return nullptr;
    }
    cur = &(*cur)[s.key];
    if (s.by_name) {
      cur = ElementByName(const_cast<json&>(*cur), s.name);
      if (cur == nullptr) {
        return nullptr;
      }
    }
  }
  return cur->is_null() ? nullptr : cur;
}

absl::Status SetField(json& object, const std::string& path, const json& value) {
  auto segs = ParseFieldPath(path);
  if (!segs.ok()) {
    return segs.status();
  }
  json* cur = &object;
  for (size_t i = 0; i < segs->size(); ++i) {
    const PathSegment& s = (*segs)[i];
    bool last = i + 1 == segs->size();
    if (!cur->is_object()) {
      if (!cur->is_null()) {
        return absl::InvalidArgumentError("path " + path + ": " + s.key + " is not inside an object");
      }
      *cur = json::object();
    }
    if (last && !s.by_name) {
      if (value.is_null()) {
        cur->erase(s.key);
      } else {
        (*cur)[s.key] = value;
      }
      return absl::OkStatus();
    }
    cur = &(*cur)[s.key];
    if (s.by_name) {
      json* e = ElementByName(*cur, s.name);
      if (e == nullptr) {
        return absl::InvalidArgumentError("path " + path + ": no element named " + s.name + " in " + s.key);
      }
      cur = e;
      if (last) {
        return absl::InvalidArgumentError("path " + path + " ends at an array element");
      }
    }
  }
  return absl::OkStatus();
}

std::string FieldText(const json* value) {
  if (value == nullptr || value->is_null()) {
    return "";
  }
  if (value->is_string()) {
    return value->get<std::string>();
  }
  return value->dump();
}

absl::StatusOr<json> FieldFromText(const std::string& text, const json* like) {
  if (text.empty()) {
    return json(nullptr);
  }
  if (like != nullptr && (like->is_number() || like->is_boolean())) {
    json v = json::parse(text, nullptr, false);
    if (v.is_discarded() || (like->is_number() && !v.is_number()) ||
        (like->is_boolean() && !v.is_boolean())) {
      return absl::InvalidArgumentError("value \"" + text + "\" does not fit the field's type");
    }
    return v;
  }
  if (text == "true" || text == "false") {
    return json(text == "true");
  }
  return json(text);
}

namespace {

json ChangeJson(const Change& c) {
  return {{"object", c.object}, {"path", c.path}, {"before", c.before}, {"after", c.after}};
}

std::vector<json> ReadHistory(const json& object) {
  const json* raw = GetField(object, std::string("metadata.annotations[\"") + kHistoryAnnotation + "\"]");
  if (raw == nullptr || !raw->is_string()) {
    return {};
  }
  json h = json::parse(raw->get<std::string>(), nullptr, false);
  if (!h.is_array()) {
    return {};
  }
  return std::vector<json>(h.begin(), h.end());
}

}  // namespace

std::optional<HistoryEntry> FindAction(const json& object, const std::string& action_id) {
  for (const auto& e : ReadHistory(object)) {
    if (!e.is_object() || e.value("id", "") != action_id) {
      continue;
    }
    HistoryEntry out{action_id, e.value("action", ""), e.value("at", ""), {}};
    if (e.contains("changes") && e["changes"].is_array()) {
      for (const auto& c : e["changes"]) {
        if (c.is_object()) {
          out.changes.push_back(Change{c.value("object", ""), c.value("path", ""), c.value("before", ""),
                                       c.value("after", "")});
        }
      }
    }
    return out;
  }
  return std::nullopt;
}

bool HasAction(const json& object, const std::string& action_id) {
  if (action_id.empty()) {
    return false;
  }
  const json* last = GetField(object, std::string("metadata.annotations[\"") + kLastActionAnnotation + "\"]");
  if (last != nullptr && last->is_string() && last->get<std::string>() == action_id) {
    return true;
  }
  return FindAction(object, action_id).has_value();
}

void RecordAction(json& object, const HistoryEntry& entry) {
  std::vector<json> history = ReadHistory(object);
  json e = {{"id", entry.action_id}, {"action", entry.action}, {"at", entry.at}, {"changes", json::array()}};
  for (const auto& c : entry.changes) {
    e["changes"].push_back(ChangeJson(c));
  }
  history.insert(history.begin(), e);
  if (history.size() > kHistoryLimit) {
    history.resize(kHistoryLimit);
  }
  json& ann = object["metadata"]["annotations"];
  if (!ann.is_object()) {
    ann = json::object();
  }
  ann[kLastActionAnnotation] = entry.action_id;
  ann[kHistoryAnnotation] = json(history).dump();
}

json MergePatchFor(const json& from, const json& to) {
  json patch = json::object();
  for (auto it = to.begin(); it != to.end(); ++it) {
    if (!from.contains(it.key())) {
      patch[it.key()] = it.value();
    } else if (from[it.key()] != it.value()) {
      const json& a = from[it.key()];
      patch[it.key()] = a.is_object() && it.value().is_object() ? MergePatchFor(a, it.value()) : it.value();
    }
  }
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (!to.contains(it.key())) {
      patch[it.key()] = nullptr;
    }
  }
  return patch;
}

std::string ObjectKey(const std::string& kind, const std::string& ns, const std::string& name) {
  return kind + "/" + ns + "/" + name;
}

absl::StatusOr<std::string> SelectorString(const json& selector) {
  std::string out;
  auto add = [&](const std::string& k, const std::string& v) {
    if (!out.empty()) {
      out += ",";
    }
    out += k + "=" + v;
  };
  if (selector.contains("matchLabels") && selector["matchLabels"].is_object()) {
    for (auto it = selector["matchLabels"].begin(); it != selector["matchLabels"].end(); ++it) {
      add(it.key(), it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
    }
  }
  if (selector.contains("matchExpressions") && selector["matchExpressions"].is_array()) {
    for (const auto& e : selector["matchExpressions"]) {
      if (e.value("operator", "") == "In" && e.contains("values") && e["values"].size() == 1) {
        add(e.value("key", ""), e["values"][0].get<std::string>());
      } else {
        return absl::InvalidArgumentError("selector expression " + e.dump() + " is not supported");
      }
    }
  }
  if (out.empty()) {
    return absl::InvalidArgumentError("empty label selector");
  }
  return out;
}

}  // namespace kubemend::executor
