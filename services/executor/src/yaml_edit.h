#pragma once
// A line- and indent-aware editor for the few fields the executor's actions
// change in a Kubernetes manifest kept in Git (GitOps mode). yaml-cpp cannot
// write a file back with its comments, key order, quoting and spacing, and a
// reviewer must see a one-line diff, so this edits the text itself and
// touches nothing but the value (and, for a key the file lacks, the lines
// that add it).
//
// What it understands: block mappings and block sequences (indented or not
// under their key), "- name: x" items found by any key's position, plain,
// single- and double-quoted scalars, trailing comments, anchors on a value
// (kept) and aliases as the value (replaced by the literal: only this field
// changes). What it refuses, with the line number: a value that is a block
// scalar (| >) or a flow collection ({...} [...]) other than an empty {}, a
// value whose anchor other fields alias (changing it would change them too),
// tabs in indentation.
//
// Paths use plan.h's syntax: dot-separated keys, `containers[app]` selects
// the element whose name is "app", `annotations["a.b/c"]` a key with dots.
// Pure functions: no I/O; thread-safe.
#include <absl/status/statusor.h>

#include <string>
#include <vector>

namespace kubemend::executor::yamledit {

// One document of a multi-document file: its lines [first_line, end_line)
// (0-based, `---` separators excluded) and identity.
struct DocumentInfo {
  size_t first_line = 0;
  size_t end_line = 0;
  std::string api_version;
  std::string kind;
  std::string ns;  // "" when the manifest leaves it to `kubectl -n` / kustomize
  std::string name;
};

// The documents of a file, in order. Documents yaml-cpp cannot parse are
// listed with an empty kind (a templated file is not an error here).
std::vector<DocumentInfo> Documents(const std::string& text);

// Sets the scalar at `path` in document `doc` to `value` and returns the new
// text. Missing mapping keys on the way are added (after their siblings, at
// their indentation); a missing sequence element is NotFound. The quoting of
// the old value is kept; a plain value that would not read back as the same
// string is double-quoted.
absl::StatusOr<std::string> SetScalar(const std::string& text, const DocumentInfo& doc, const std::string& path,
                                      const std::string& value);

// The scalar at `path` in document `doc`, unquoted; NotFound when absent.
absl::StatusOr<std::string> GetScalar(const std::string& text, const DocumentInfo& doc, const std::string& path);

}  // namespace kubemend::executor::yamledit
