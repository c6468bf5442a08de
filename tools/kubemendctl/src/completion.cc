// kubemendctl completion bash|zsh: a completion script generated from the
// command registry, so it never lists a command that does not exist. zsh
// loads the bash one through bashcompinit. The same function completes
// kubectl-kubemend (the kubectl plugin name).
#include <set>
#include <sstream>

#include "cli.h"

namespace kubemend::ctl {
namespace {

std::string Join(const std::set<std::string>& words) {
  std::string s;
  for (const auto& w : words) {
    s += (s.empty() ? "" : " ") + w;
  }
  return s;
}

// The command tree: path prefix ("" = top level) -> next words; full path -> its flags.
struct Tree {
  std::map<std::string, std::set<std::string>> next;
  std::map<std::string, std::set<std::string>> flags;
};

const std::set<std::string>& GlobalFlags() {
  static const std::set<std::string> g = {"--output", "--token", "--token-file", "--config", "--stack-env",
                                          "--endpoint", "--tls-ca", "--tls-cert", "--tls-key", "--timeout", "--as"};
  return g;
}

Tree BuildTree(const Registry& reg) {
  Tree t;
  auto& next = t.next;
  auto& flags = t.flags;
  for (const auto& c : reg) {
    std::string prefix;
    for (const auto& word : c.path) {
      next[prefix].insert(word);
      prefix += (prefix.empty() ? "" : " ") + word;
    }
    for (const auto& f : c.flags) {
      flags[prefix].insert("--" + f);
    }
    flags[prefix].insert("--help");
  }
  next[""].insert("version");
  return t;
}

std::string BashScript(const Registry& reg) {
  const Tree t = BuildTree(reg);
  const auto& next = t.next;
  const auto& flags = t.flags;
  std::ostringstream s;
  s << "# kubemendctl bash completion: source <(kubemendctl completion bash)\n"
       "_kubemendctl() {\n"
       "  local cur=${COMP_WORDS[COMP_CWORD]} path='' i w words\n"
       "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
       "    w=${COMP_WORDS[i]}\n"
       "    [[ $w == -* ]] && continue\n"
       "    case ${COMP_WORDS[i-1]} in -o|--output|-n|--namespace|--token|--token-file|--config|--stack-env|"
       "--endpoint|--tls-ca|--tls-cert|--tls-key|--timeout|--as|--reason|--scope|--wait|--kubeconfig|--context) "
       "continue ;; esac\n"
       "    path=\"${path:+$path }$w\"\n"
       "  done\n"
       "  if [[ $cur == -* ]]; then\n"
       "    words='" << Join(GlobalFlags()) << "'\n"
       "    case $path in\n";
  for (const auto& [p, fs] : flags) {
    s << "      '" << p << "') words=\"$words " << Join(fs) << "\" ;;\n";
  }
  s << "    esac\n"
       "  else\n"
       "    case $path in\n";
  for (const auto& [p, ws] : next) {
    s << "      '" << p << "') words='" << Join(ws) << "' ;;\n";
  }
  s << "      *) words='' ;;\n"
       "    esac\n"
       "  fi\n"
       "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
       "}\n"
       "complete -F _kubemendctl kubemendctl kubectl-kubemend\n";
  return s.str();
}

}  // namespace

int CompleteWords(const Registry& reg, const std::vector<std::string>& words, bool plugin, std::ostream& out) {
  const Tree t = BuildTree(reg);
  const std::string cur = words.empty() ? "" : words.back();
  std::string path;
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    if (words[i].rfind("-", 0) == 0) {
      continue;  // a flag (a value after it is not a command word either, see below)
    }
    std::string at = path;
    if (plugin && path.empty() && (words[i] == "approve" || words[i] == "deny")) {
      at = "kube";  // as the plugin, approve/deny are the Kubernetes ones
      path = "kube";
    }
    auto it = t.next.find(at);
    if (it != t.next.end() && it->second.count(words[i])) {
      path += (path.empty() ? "" : " ") + words[i];
    }
  }
  std::set<std::string> candidates;
  if (cur.rfind("-", 0) == 0) {
    candidates = GlobalFlags();
    if (auto it = t.flags.find(path); it != t.flags.end()) {
      candidates.insert(it->second.begin(), it->second.end());
    }
  } else if (auto it = t.next.find(path); it != t.next.end()) {
    candidates = it->second;
  }
  for (const auto& c : candidates) {
    if (c.rfind(cur, 0) == 0) {
      out << c << "\n";
    }
  }
  out << ":4\n";  // cobra's ShellCompDirectiveNoFileComp, which kubectl's plugin completion reads
  return kOk;
}

void RegisterCompletionCommand(Registry& r) {
  const Registry* reg = &r;
  r.push_back({{"completion"},
               "bash|zsh",
               "print a shell completion script",
               "bash: source <(kubemendctl completion bash), or save it under\n"
               "/etc/bash_completion.d/. zsh: source <(kubemendctl completion zsh)\n"
               "(it loads bashcompinit). Completes commands and each command's flags.",
               {},
               [reg](Context& c, const Args& a) {
                 if (a.positional.size() != 1 || (a.positional[0] != "bash" && a.positional[0] != "zsh")) {
                   c.err << c.program << " completion: want bash or zsh\n";
                   return static_cast<int>(kUsage);
                 }
                 if (a.positional[0] == "zsh") {
                   c.out << "# kubemendctl zsh completion: source <(kubemendctl completion zsh)\n"
                            "autoload -U +X bashcompinit && bashcompinit\n";
                 }
                 c.out << BashScript(*reg);
                 return static_cast<int>(kOk);
               }});
}

}  // namespace kubemend::ctl
