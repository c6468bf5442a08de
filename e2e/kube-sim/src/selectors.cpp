#include "selectors.h"

#include "api_error.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace kubesim {

namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) {
    ++b;
  }
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) {
    --e;
  }
  return s.substr(b, e - b);
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> split_top_level(const std::string& text) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string current;
  for (char ch : text) {
    if (ch == '(') {
      ++depth;
    } else if (ch == ')') {
      --depth;
    }
    if (ch == ',' && depth == 0) {
      parts.push_back(current);
      current.clear();
    } else {
      current.push_back(ch);
    }
  }
  parts.push_back(current);
  return parts;
}

bool valid_label_key(const std::string& key) {
  if (key.empty() || key.size() > 317) {
    return false;
  }
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

bool valid_label_value(const std::string& value) {
  return value.size() <= 63 && std::all_of(value.begin(), value.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
         });
}

ApiError selector_error(const std::string& text, const std::string& why) {
  return ApiError::bad_request("unable to parse requirement: " + why + " (selector \"" + text + "\")");
}

LabelSelector::Requirement parse_requirement(const std::string& raw, const std::string& whole) {
  std::string part = trim(raw);
  if (part.empty()) {
    throw selector_error(whole, "empty requirement");
  }
  LabelSelector::Requirement req;
  if (part[0] == '!') {
    req.key = trim(part.substr(1));
    req.op = LabelSelector::Op::kDoesNotExist;
    if (!valid_label_key(req.key)) {
      throw selector_error(whole, "invalid label key \"" + req.key + "\"");
    }
    return req;
  }
  // Set-based: "key in (a,b)" / "key notin (a,b)".
  auto paren = part.find('(');
  if (paren != std::string::npos) {
    if (part.back() != ')') {
      throw selector_error(whole, "missing ')'");
    }
    std::string head = trim(part.substr(0, paren));
    auto space = head.find_last_of(" \t");
    if (space == std::string::npos) {
      throw selector_error(whole, "expected 'in' or 'notin'");
    }
    std::string op = trim(head.substr(space + 1));
    req.key = trim(head.substr(0, space));
    if (op == "in") {
      req.op = LabelSelector::Op::kIn;
    } else if (op == "notin") {
      req.op = LabelSelector::Op::kNotIn;
    } else {
      throw selector_error(whole, "unknown operator \"" + op + "\"");
    }
    std::string inner = part.substr(paren + 1, part.size() - paren - 2);
    std::size_t start = 0;
    while (start <= inner.size()) {
      auto comma = inner.find(',', start);
      std::string v = trim(inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (!valid_label_value(v)) {
        throw selector_error(whole, "invalid label value \"" + v + "\"");
      }
      req.values.push_back(v);
      if (comma == std::string::npos) {
        break;
      }
      start = comma + 1;
    }
    std::sort(req.values.begin(), req.values.end());
  } else {
    static const std::pair<const char*, LabelSelector::Op> kOps[] = {{"==", LabelSelector::Op::kEquals},
                                                                    {"!=", LabelSelector::Op::kNotEquals},
                                                                    {"=", LabelSelector::Op::kEquals},
                                                                    {">", LabelSelector::Op::kGreaterThan},
                                                                    {"<", LabelSelector::Op::kLessThan}};
    bool found = false;
    for (const auto& [token, op] : kOps) {
      auto pos = part.find(token);
      if (pos == std::string::npos) {
        continue;
      }
      req.key = trim(part.substr(0, pos));
      req.op = op;
      std::string value = trim(part.substr(pos + std::char_traits<char>::length(token)));
      if (op == LabelSelector::Op::kGreaterThan || op == LabelSelector::Op::kLessThan) {
        char* end = nullptr;
        std::strtoll(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0') {
          throw selector_error(whole, "for 'Gt', 'Lt' operators, the value must be an integer");
        }
      } else if (!valid_label_value(value)) {
        throw selector_error(whole, "invalid label value \"" + value + "\"");
      }
      req.values.push_back(value);
      found = true;
      break;
    }
    if (!found) {
      req.key = part;
      req.op = LabelSelector::Op::kExists;
    }
  }
  if (!valid_label_key(req.key)) {
    throw selector_error(whole, "invalid label key \"" + req.key + "\"");
  }
  return req;
}

}  // namespace

LabelSelector LabelSelector::parse(const std::string& text) {
  LabelSelector selector;
  if (trim(text).empty()) {
    return selector;
  }
  for (const auto& part : split_top_level(text)) {
    selector.requirements_.push_back(parse_requirement(part, text));
  }
  return selector;
}

LabelSelector LabelSelector::from_json(const Json* json) {
  LabelSelector selector;
  if (!json || !json->is_object()) {
    selector.nothing_ = true;
    return selector;
  }
  for (const auto& [key, value] : string_map(find_path(*json, "matchLabels"))) {
    selector.requirements_.push_back({key, Op::kEquals, {value}});
  }
  const Json* exprs = find_path(*json, "matchExpressions");
  if (exprs && exprs->is_array()) {
    for (const auto& e : *exprs) {
      Requirement req;
      req.key = e.value("key", "");
      std::string op = e.value("operator", "");
      if (op == "In") {
        req.op = Op::kIn;
      } else if (op == "NotIn") {
        req.op = Op::kNotIn;
      } else if (op == "Exists") {
        req.op = Op::kExists;
      } else if (op == "DoesNotExist") {
        req.op = Op::kDoesNotExist;
      } else {
        throw ApiError::bad_request("\"" + op + "\" is not a valid label selector operator");
      }
      if (e.contains("values") && e["values"].is_array()) {
        for (const auto& v : e["values"]) {
          if (v.is_string()) {
            req.values.push_back(v.get<std::string>());
          }
        }
      }
      std::sort(req.values.begin(), req.values.end());
      selector.requirements_.push_back(std::move(req));
    }
  }
  return selector;
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  if (nothing_) {
    return false;
  }
  for (const auto& req : requirements_) {
    auto it = labels.find(req.key);
    bool has = it != labels.end();
    switch (req.op) {
      case Op::kEquals:
        if (!has || it->second != req.values.front()) {
          return false;
        }
        break;
      case Op::kNotEquals:
        if (has && it->second == req.values.front()) {
          return false;
        }
        break;
      case Op::kIn:
        if (!has || std::find(req.values.begin(), req.values.end(), it->second) == req.values.end()) {
          return false;
        }
        break;
      case Op::kNotIn:
        if (has && std::find(req.values.begin(), req.values.end(), it->second) != req.values.end()) {
          return false;
        }
        break;
      case Op::kExists:
        if (!has) {
          return false;
        }
        break;
      case Op::kDoesNotExist:
        if (has) {
          return false;
        }
        break;
      case Op::kGreaterThan:
      case Op::kLessThan: {
        if (!has) {
          return false;
        }
        char* end = nullptr;
        long long actual = std::strtoll(it->second.c_str(), &end, 10);
        if (it->second.empty() || *end != '\0') {
          return false;
        }
        long long bound = std::strtoll(req.values.front().c_str(), nullptr, 10);
        if (req.op == Op::kGreaterThan ? !(actual > bound) : !(actual < bound)) {
          return false;
        }
        break;
      }
    }
  }
  return true;
}

std::string LabelSelector::to_string() const {
  std::string out;
  for (const auto& req : requirements_) {
    if (!out.empty()) {
      out += ",";
    }
    auto joined = [&] {
      std::string s;
      for (std::size_t i = 0; i < req.values.size(); ++i) {
        s += (i ? "," : "") + req.values[i];
      }
      return s;
    };
    switch (req.op) {
      case Op::kEquals:
        out += req.key + "=" + req.values.front();
        break;
      case Op::kNotEquals:
        out += req.key + "!=" + req.values.front();
        break;
      case Op::kIn:
        out += req.key + " in (" + joined() + ")";
        break;
      case Op::kNotIn:
        out += req.key + " notin (" + joined() + ")";
        break;
      case Op::kExists:
        out += req.key;
        break;
      case Op::kDoesNotExist:
        out += "!" + req.key;
        break;
      case Op::kGreaterThan:
        out += req.key + ">" + req.values.front();
        break;
      case Op::kLessThan:
        out += req.key + "<" + req.values.front();
        break;
    }
  }
  return out;
}

FieldSelector FieldSelector::parse(const std::string& text) {
  FieldSelector selector;
  if (trim(text).empty()) {
    return selector;
  }
  for (const auto& raw : split_top_level(text)) {
    std::string part = trim(raw);
    Requirement req;
    std::size_t pos;
    if ((pos = part.find("!=")) != std::string::npos) {
      req = {trim(part.substr(0, pos)), true, trim(part.substr(pos + 2))};
    } else if ((pos = part.find("==")) != std::string::npos) {
      req = {trim(part.substr(0, pos)), false, trim(part.substr(pos + 2))};
    } else if ((pos = part.find('=')) != std::string::npos) {
      req = {trim(part.substr(0, pos)), false, trim(part.substr(pos + 1))};
    } else {
      throw ApiError::bad_request("invalid field selector: '" + part + "' is not a valid field selector term");
    }
    if (req.field.empty()) {
      throw ApiError::bad_request("invalid field selector: empty field name in '" + part + "'");
    }
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

}  // namespace kubesim
