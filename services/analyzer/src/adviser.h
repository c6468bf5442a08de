#pragma once
// The LLM adviser: asks a language model for a diagnosis and a choice among
// the actions a policy allows, on a short leash.
//
// - The prompt carries the incident's facts as one JSON document; alert text
//   (summaries, annotations) is data inside that document, never instructions,
//   and the system message says so.
//   The document sits between two marker lines (kDataBegin/kDataEnd); JSON
//   escapes every line break inside a string, so alert text can never end
//   the block early or add a line of its own.
// - The reply must be a JSON object {"diagnosis", "action": {"type", "params"}};
//   ValidateReply accepts only actions from the allowed list with parameters
//   inside the catalogue's bounds, on the incident's own target, outside the
//   protected namespaces. Anything else is discarded with the reason.
// - Then the facts hold the choice (HoldToFacts): a RollbackImage may pick
//   only an image from the workload's own rollout history (the signal's
//   `imageHistory`/`previousImage` facts), and the caps of the policy's own
//   action of that type (IncreaseMemory maxLimit, ExpandPVC maxSize,
//   ScaleWorkload maxReplicas, AdjustHPA maxReplicasCap) bound the adviser's:
//   a larger cap is clamped (said in Advice.adjusted), an IncreaseMemory on a
//   container already at the cap is refused.
// - Errors, timeouts and exhausted budgets fall back to the policy's actions.
//
// BuildPrompt and ValidateReply are pure. LlmAdviser does HTTP (Ollama
// /api/chat or OpenAI-compatible /v1/chat/completions) and is called from the
// analyzer's consumer thread; it is thread-safe.
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kubemend/common/clock.h"
#include "kubemend/v1/events.pb.h"

namespace kubemend::analyzer {

struct AdviceRequest {
  std::string fingerprint;  // cache key: subject + firing signal names
  std::string incident_id;
  v1::Target target;        // where the chosen action would apply
  std::vector<v1::Signal> signals;
  std::vector<std::string> history;  // recent attempts on this target, one line each
  std::vector<v1::ActionType> allowed;
  std::string policy;
  // The cluster's facts about the target (Signal.facts of the latest signal):
  // shown to the model and holding its choice (imageHistory, memoryLimit).
  std::map<std::string, std::string> facts;
  // The policy's own actions with their parameters: their caps bound the
  // adviser's choice of the same type.
  std::vector<v1::Action> policy_actions;
};

// The lines around the untrusted incident document in the user message.
inline constexpr const char* kDataBegin = "-----BEGIN UNTRUSTED INCIDENT DATA-----";
inline constexpr const char* kDataEnd = "-----END UNTRUSTED INCIDENT DATA-----";

// The images a RollbackImage may choose: imageHistory, else previousImage.
std::vector<std::string> RollbackCandidates(const std::map<std::string, std::string>& facts);

// Holds an accepted choice to the facts and the policy's caps. False with
// *why when it must be refused; *adjusted says what was clamped.
bool HoldToFacts(const AdviceRequest& req, v1::Action* action, std::string* why,
                 std::string* adjusted);

struct AdviceResult {
  v1::Advice advice;
  std::optional<v1::Action> action;  // set only when the advice was accepted
};

class Adviser {
 public:
  virtual ~Adviser() = default;
  virtual AdviceResult Advise(const AdviceRequest& req) = 0;
};

struct AdviserRules {
  std::vector<std::string> protected_namespaces{"kube-system", "kube-public", "kube-node-lease"};
  size_t max_diagnosis_chars = 2000;
};

struct ChatMessage {
  std::string role;
  std::string content;
};
std::vector<ChatMessage> BuildPrompt(const AdviceRequest& req, const AdviserRules& rules);

// `content` is the model's reply text (already unwrapped from the API's JSON).
AdviceResult ValidateReply(const std::string& content, const AdviceRequest& req,
                           const AdviserRules& rules, const std::string& model);

struct LlmConfig {
  std::string api = "ollama";  // ollama | openai
  std::string endpoint = "http://127.0.0.1:11434";
  std::string model = "llama3.1:8b";
  std::string api_key;         // from the environment only (openai)
  std::chrono::milliseconds timeout{20000};
  int64_t max_tokens = 512;
  int64_t max_calls_per_hour = 60;
  int64_t max_tokens_per_hour = 200000;
  size_t cache_entries = 1024;
};

class LlmAdviser final : public Adviser {
 public:
  LlmAdviser(LlmConfig cfg, AdviserRules rules, const Clock& clock);
  AdviceResult Advise(const AdviceRequest& req) override;
  uint64_t calls() const;
  uint64_t cache_hits() const;

 private:
  // Returns the reply content or an error sentence.
  bool Call(const std::vector<ChatMessage>& msgs, std::string* content, std::string* error,
            int64_t* tokens);
  LlmConfig cfg_;
  AdviserRules rules_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> cache_;  // fingerprint -> reply content, re-validated on a hit
  std::deque<std::string> cache_order_;
  std::deque<std::pair<TimePoint, int64_t>> spent_;  // calls and tokens in the last hour
  uint64_t calls_ = 0;
  uint64_t cache_hits_ = 0;
};

}  // namespace kubemend::analyzer
