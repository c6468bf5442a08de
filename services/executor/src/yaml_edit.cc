#include "yaml_edit.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>

#include "plan.h"

namespace kubemend::executor::yamledit {

namespace {

// ---------------------------------------------------------------- lines

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) {
      if (at < text.size()) {
        out.push_back(text.substr(at));
      }
      break;
    }
    out.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

std::string JoinLines(const std::vector<std::string>& lines, bool trailing_newline) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += lines[i];
    if (i + 1 < lines.size() || trailing_newline) {
      out += '\n';
    }
  }
  return out;
}

bool IsSeparator(const std::string& l) {
  return (l.rfind("---", 0) == 0 && (l.size() == 3 || l[3] == ' ' || l[3] == '\t')) ||
         (l.rfind("...", 0) == 0 && (l.size() == 3 || l[3] == ' '));
}

// Where a line's key would start: after its indentation and any "- "
// sequence-entry indicators.
struct LineShape {
  bool content = false;  // not blank, not only a comment
  int indent = 0;
  int body_col = 0;
  bool dash = false;
};

LineShape ShapeOf(const std::string& l) {
  LineShape s;
  size_t i = 0;
  while (i < l.size() && l[i] == ' ') {
    ++i;
  }
  s.indent = static_cast<int>(i);
  if (i == l.size() || l[i] == '#' || l[i] == '\r') {
    return s;
  }
  s.content = true;
  while (i < l.size() && l[i] == '-' && (i + 1 == l.size() || l[i + 1] == ' ')) {
    s.dash = true;
    ++i;
    while (i < l.size() && l[i] == ' ') {
      ++i;
    }
  }
  s.body_col = static_cast<int>(i);
  return s;
}

// ---------------------------------------------------------------- keys and values

struct KeyAt {
  std::string key;
  size_t after_colon = 0;  // index just past ':'
};

// The mapping key starting at column `col` of `l`, if the line has one there.
std::optional<KeyAt> KeyOnLine(const std::string& l, int col) {
  size_t i = static_cast<size_t>(col);
  if (i >= l.size()) {
    return std::nullopt;
  }
  KeyAt k;
  if (l[i] == '"' || l[i] == '\'') {
    char q = l[i];
    size_t end = l.find(q, i + 1);
    if (end == std::string::npos || end + 1 >= l.size() || l[end + 1] != ':') {
      return std::nullopt;
    }
    k.key = l.substr(i + 1, end - i - 1);
    k.after_colon = end + 2;
  } else {
    size_t at = i;
    while (true) {
      size_t colon = l.find(':', at);
      if (colon == std::string::npos) {
        return std::nullopt;
      }
      if (colon + 1 == l.size() || l[colon + 1] == ' ' || l[colon + 1] == '\r') {
        k.key = l.substr(i, colon - i);
        k.after_colon = colon + 1;
        break;
      }
      at = colon + 1;
    }
    if (k.key.find(" #") != std::string::npos || k.key.empty() || k.key[0] == '#') {
      return std::nullopt;
    }
  }
  if (k.after_colon < l.size() && l[k.after_colon] != ' ' && l[k.after_colon] != '\r') {
    return std::nullopt;
  }
  return k;
}

enum class Style { kEmpty, kPlain, kDouble, kSingle, kAlias, kEmptyFlowMap, kBlockScalar, kFlow };

struct ValueAt {
  Style style = Style::kEmpty;
  size_t begin = 0;  // the value's text [begin, end) (quotes included)
  size_t end = 0;
  std::string anchor;  // "&name" on the value
  std::string text;    // unquoted
};

absl::StatusOr<ValueAt> ValueOnLine(const std::string& l, size_t from) {
  ValueAt v;
  size_t i = from;
  auto skip = [&] {
    while (i < l.size() && l[i] == ' ') {
      ++i;
    }
  };
  skip();
  if (i < l.size() && l[i] == '&') {
    size_t e = i;
    while (e < l.size() && l[e] != ' ') {
      ++e;
    }
    v.anchor = l.substr(i + 1, e - i - 1);
    i = e;
    skip();
  }
  v.begin = v.end = i;
  if (i >= l.size() || l[i] == '#' || l[i] == '\r') {
    return v;
  }
  char c = l[i];
  if (c == '|' || c == '>') {
    v.style = Style::kBlockScalar;
    return v;
  }
  if (c == '{' || c == '[') {
    size_t close = l.find_first_not_of(' ', i + 1);
    if (c == '{' && close != std::string::npos && l[close] == '}') {
      v.style = Style::kEmptyFlowMap;
      v.end = close + 1;
      return v;
    }
    v.style = Style::kFlow;
    return v;
  }
  if (c == '"') {
    size_t e = i + 1;
    while (e < l.size() && l[e] != '"') {
      if (l[e] == '\\' && e + 1 < l.size()) {
        v.text.push_back(l[e + 1]);
        e += 2;
        continue;
      }
      v.text.push_back(l[e++]);
    }
    if (e >= l.size()) {
      return absl::InvalidArgumentError("unterminated double-quoted scalar");
    }
    v.style = Style::kDouble;
    v.end = e + 1;
    return v;
  }
  if (c == '\'') {
    size_t e = i + 1;
    while (e < l.size()) {
      if (l[e] == '\'') {
        if (e + 1 < l.size() && l[e + 1] == '\'') {
          v.text.push_back('\'');
          e += 2;
          continue;
        }
        break;
      }
      v.text.push_back(l[e++]);
    }
    if (e >= l.size()) {
      return absl::InvalidArgumentError("unterminated single-quoted scalar");
    }
    v.style = Style::kSingle;
    v.end = e + 1;
    return v;
  }
  size_t e = l.find(" #", i);
  if (e == std::string::npos) {
    e = l.size();
  }
  while (e > i && (l[e - 1] == ' ' || l[e - 1] == '\r')) {
    --e;
  }
  v.style = c == '*' ? Style::kAlias : Style::kPlain;
  v.end = e;
  v.text = l.substr(i, e - i);
  return v;
}

bool NeedsQuotes(const std::string& v) {
  if (v.empty() || v.front() == ' ' || v.back() == ' ' || v.back() == ':') {
    return true;
  }
  if (std::string("-?:,[]{}#&*!|>'\"%@`").find(v.front()) != std::string::npos) {
    return true;
  }
  if (v.find(": ") != std::string::npos || v.find(" #") != std::string::npos || v.find('\n') != std::string::npos) {
    return true;
  }
  std::string lower = v;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  for (const char* word : {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}) {
    if (lower == word) {
      return true;
    }
  }
  return false;
}

std::string DoubleQuoted(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out + "\"";
}

std::string Render(const std::string& value, Style old_style) {
  if (old_style == Style::kDouble) {
    return DoubleQuoted(value);
  }
  if (old_style == Style::kSingle) {
    std::string out = "'";
    for (char c : value) {
      out += c == '\'' ? std::string("''") : std::string(1, c);
    }
    return out + "'";
  }
  return NeedsQuotes(value) ? DoubleQuoted(value) : value;
}

// ---------------------------------------------------------------- the walk

// A block mapping: its keys are the content lines in [begin, end) whose key
// starts at column `col`.
struct Scope {
  size_t begin = 0;
  size_t end = 0;
  int col = 0;
};

class Editor {
 public:
  Editor(std::vector<std::string> lines, const DocumentInfo& doc) : lines_(std::move(lines)), doc_(doc) {}

  absl::StatusOr<std::string> Get(const std::string& path) {
    auto found = Walk(path, nullptr);
    if (!found.ok()) {
      return found.status();
    }
    return found->text;
  }

  absl::Status Set(const std::string& path, const std::string& value) {
    auto found = Walk(path, &value);
    if (!found.ok()) {
      return found.status();
    }
    if (inserted_) {
      return absl::OkStatus();
    }
    std::string& l = lines_[line_];
    if (found->style == Style::kAlias) {
      l.replace(found->begin, found->end - found->begin, Render(value, Style::kPlain));
      return absl::OkStatus();
    }
    if (!found->anchor.empty() && AnchorUsed(found->anchor)) {
      return Err(line_, "the value carries anchor &" + found->anchor +
                            " that other fields alias; changing it would change them too");
    }
    l.replace(found->begin, found->end - found->begin, Render(value, found->style));
    return absl::OkStatus();
  }

  const std::vector<std::string>& lines() const { return lines_; }

 private:
  absl::Status Err(size_t line, const std::string& why) const {
    return absl::FailedPreconditionError("line " + std::to_string(line + 1) + ": " + why);
  }

  bool AnchorUsed(const std::string& anchor) const {
    for (size_t i = doc_.first_line; i < doc_.end_line; ++i) {
      const std::string& l = lines_[i];
      for (size_t at = l.find("*" + anchor); at != std::string::npos; at = l.find("*" + anchor, at + 1)) {
        size_t e = at + 1 + anchor.size();
        if (e == l.size() || l[e] == ' ' || l[e] == ',' || l[e] == '}' || l[e] == ']' || l[e] == '\r') {
          return true;
        }
      }
    }
    return false;
  }

  std::optional<size_t> FindKey(const Scope& s, const std::string& key) const {
    for (size_t i = s.begin; i < s.end; ++i) {
      LineShape sh = ShapeOf(lines_[i]);
      if (!sh.content || sh.body_col != s.col) {
        continue;
      }
      auto k = KeyOnLine(lines_[i], s.col);
      if (k && k->key == key) {
        return i;
      }
    }
    return std::nullopt;
  }

  // The lines holding the value of the key on line `k` (key at column `col`).
  size_t BlockEnd(size_t k, int col, size_t limit) const {
    for (size_t i = k + 1; i < limit; ++i) {
      LineShape sh = ShapeOf(lines_[i]);
      if (!sh.content) {
        continue;
      }
      if (sh.indent < col || (sh.indent == col && !sh.dash)) {
        return i;
      }
    }
    return limit;
  }

  std::optional<size_t> FirstContent(size_t begin, size_t end) const {
    for (size_t i = begin; i < end; ++i) {
      if (ShapeOf(lines_[i]).content) {
        return i;
      }
    }
    return std::nullopt;
  }

  // The sequence item (a "- " line at the sequence's indentation) whose
  // `name` is `name`.
  absl::StatusOr<Scope> Item(size_t begin, size_t end, const std::string& key, const std::string& name) {
    auto first = FirstContent(begin, end);
    if (!first || !ShapeOf(lines_[*first]).dash) {
      return absl::NotFoundError("\"" + key + "\" is not a block sequence");
    }
    int seq_indent = ShapeOf(lines_[*first]).indent;
    std::vector<size_t> starts;
    for (size_t i = *first; i < end; ++i) {
      LineShape sh = ShapeOf(lines_[i]);
      if (sh.content && sh.dash && sh.indent == seq_indent) {
        starts.push_back(i);
      }
    }
    for (size_t n = 0; n < starts.size(); ++n) {
      Scope item{starts[n], n + 1 < starts.size() ? starts[n + 1] : end, ShapeOf(lines_[starts[n]]).body_col};
      auto at = FindKey(item, "name");
      if (!at) {
        continue;
      }
      auto k = KeyOnLine(lines_[*at], item.col);
      auto v = ValueOnLine(lines_[*at], k->after_colon);
      if (v.ok() && v->text == name) {
        return item;
      }
    }
    return absl::NotFoundError("no element named \"" + name + "\" under \"" + key + "\"");
  }

  // Adds `keys` (the last one with `value`) as new lines under `s`, after
  // its last content line.
  void Insert(const Scope& s, const std::vector<std::string>& keys, const std::string& value) {
    size_t at = s.begin;
    for (size_t i = s.begin; i < s.end; ++i) {
      if (ShapeOf(lines_[i]).content) {
        at = i + 1;
      }
    }
    std::vector<std::string> add;
    for (size_t n = 0; n < keys.size(); ++n) {
      std::string line(static_cast<size_t>(s.col) + 2 * n, ' ');
      line += (NeedsQuotes(keys[n]) ? DoubleQuoted(keys[n]) : keys[n]) + ":";
      if (n + 1 == keys.size()) {
        line += " " + Render(value, Style::kPlain);
      }
      add.push_back(line);
    }
    lines_.insert(lines_.begin() + static_cast<long>(at), add.begin(), add.end());
    inserted_ = true;
  }

  // Finds the value at `path`; with `set` non-null, missing keys are added
  // with that value (then inserted_ is set).
  absl::StatusOr<ValueAt> Walk(const std::string& path, const std::string* set) {
    auto segs = ParseFieldPath(path);
    if (!segs.ok()) {
      return segs.status();
    }
    for (size_t i = doc_.first_line; i < doc_.end_line; ++i) {
      const std::string& l = lines_[i];
      size_t lead = l.find_first_not_of(" \t");
      if (lead != std::string::npos && l.substr(0, lead).find('\t') != std::string::npos) {
        return Err(i, "tab in indentation");
      }
    }
    auto top = FirstContent(doc_.first_line, doc_.end_line);
    if (!top) {
      return absl::NotFoundError("empty document");
    }
    Scope scope{doc_.first_line, doc_.end_line, ShapeOf(lines_[*top]).indent};
    for (size_t n = 0; n < segs->size(); ++n) {
      const PathSegment& seg = (*segs)[n];
      bool last = n + 1 == segs->size();
      auto k = FindKey(scope, seg.key);
      if (!k) {
        if (set == nullptr || seg.by_name) {
          return absl::NotFoundError("no key \"" + seg.key + "\" in " + path);
        }
        std::vector<std::string> rest;
        for (size_t m = n; m < segs->size(); ++m) {
          if ((*segs)[m].by_name) {
            return absl::NotFoundError("no key \"" + (*segs)[m].key + "\" in " + path);
          }
          rest.push_back((*segs)[m].key);
        }
        Insert(scope, rest, *set);
        return ValueAt{};
      }
      auto key = KeyOnLine(lines_[*k], scope.col);
      auto v = ValueOnLine(lines_[*k], key->after_colon);
      if (!v.ok()) {
        return Err(*k, std::string(v.status().message()));
      }
      if (v->style == Style::kBlockScalar) {
        return Err(*k, "\"" + seg.key + "\" is a block scalar (| or >): not edited");
      }
      if (v->style == Style::kFlow) {
        return Err(*k, "\"" + seg.key + "\" is written in flow style ({...} or [...]): not edited");
      }
      if (last && !seg.by_name) {
        if (v->style == Style::kEmpty || v->style == Style::kEmptyFlowMap) {
          return Err(*k, "\"" + seg.key + "\" is a collection, not a scalar");
        }
        line_ = *k;
        return *v;
      }
      if (v->style == Style::kEmptyFlowMap) {
        if (set == nullptr || seg.by_name) {
          return absl::NotFoundError("\"" + seg.key + "\" is empty in " + path);
        }
        std::string& l = lines_[*k];
        size_t cut = v->begin;
        while (cut > key->after_colon && l[cut - 1] == ' ') {
          --cut;
        }
        l.erase(cut, v->end - cut);
        std::vector<std::string> rest;
        for (size_t m = n + 1; m < segs->size(); ++m) {
          rest.push_back((*segs)[m].key);
        }
        Insert(Scope{*k + 1, *k + 1, scope.col + 2}, rest, *set);
        return ValueAt{};
      }
      if (v->style != Style::kEmpty) {
        return Err(*k, "\"" + seg.key + "\" has a scalar value; expected a mapping");
      }
      size_t end = BlockEnd(*k, scope.col, scope.end);
      if (seg.by_name) {
        auto item = Item(*k + 1, end, seg.key, seg.name);
        if (!item.ok()) {
          return item.status();
        }
        if (last) {
          return absl::InvalidArgumentError("path " + path + " ends at an element, not a scalar");
        }
        scope = *item;
        continue;
      }
      auto first = FirstContent(*k + 1, end);
      scope = Scope{*k + 1, end, first ? ShapeOf(lines_[*first]).indent : scope.col + 2};
      if (first && ShapeOf(lines_[*first]).dash) {
        return Err(*first, "\"" + seg.key + "\" is a sequence; expected a mapping");
      }
    }
    return absl::InternalError("unreachable");
  }

  std::vector<std::string> lines_;
  DocumentInfo doc_;
  size_t line_ = 0;
  bool inserted_ = false;
};

}  // namespace

std::vector<DocumentInfo> Documents(const std::string& text) {
  std::vector<std::string> lines = SplitLines(text);
  std::vector<DocumentInfo> out;
  size_t begin = 0;
  auto flush = [&](size_t end) {
    bool any = false;
    std::string body;
    for (size_t i = begin; i < end; ++i) {
      any = any || ShapeOf(lines[i]).content;
      body += lines[i] + "\n";
    }
    if (!any) {
      return;
    }
    DocumentInfo d;
    d.first_line = begin;
    d.end_line = end;
    try {
      YAML::Node n = YAML::Load(body);
      if (n.IsMap()) {
        d.api_version = n["apiVersion"] ? n["apiVersion"].as<std::string>("") : "";
        d.kind = n["kind"] ? n["kind"].as<std::string>("") : "";
        if (YAML::Node m = n["metadata"]; m && m.IsMap()) {
          d.name = m["name"] ? m["name"].as<std::string>("") : "";
          d.ns = m["namespace"] ? m["namespace"].as<std::string>("") : "";
        }
      }
    } catch (const YAML::Exception&) {
      d.kind.clear();  // templated or broken: listed, never matched
    }
    out.push_back(d);
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    if (IsSeparator(lines[i])) {
      flush(i);
      begin = i + 1;
    }
  }
  flush(lines.size());
  return out;
}

absl::StatusOr<std::string> SetScalar(const std::string& text, const DocumentInfo& doc, const std::string& path,
                                      const std::string& value) {
  Editor e(SplitLines(text), doc);
  if (auto st = e.Set(path, value); !st.ok()) {
    return st;
  }
  return JoinLines(e.lines(), !text.empty() && text.back() == '\n');
}

absl::StatusOr<std::string> GetScalar(const std::string& text, const DocumentInfo& doc, const std::string& path) {
  Editor e(SplitLines(text), doc);
  return e.Get(path);
}

}  // namespace kubemend::executor::yamledit
