#include "kubemend/kube/resources.h"

#include <fmt/format.h>

namespace kubemend::kube {

std::string UrlEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string CollectionPath(const ResourceType& type, std::string_view ns) {
  std::string path = type.group.empty() ? fmt::format("/api/{}", type.version)
                                        : fmt::format("/apis/{}/{}", type.group, type.version);
  if (type.namespaced && !ns.empty()) {
    path += fmt::format("/namespaces/{}", UrlEncode(ns));
  }
  path += "/";
  path += type.plural;
  return path;
}

std::string ObjectPath(const ObjectRef& ref) {
  std::string path = CollectionPath(ref.type, ref.ns);
  path += "/";
  path += UrlEncode(ref.name);
  if (!ref.subresource.empty()) {
    path += "/";
    path += ref.subresource;
  }
  return path;
}

}  // namespace kubemend::kube
