// kubemend-collector: turns alerts (and later Kubernetes state, probes and
// metrics) into Signal events on the signals topic.
#include "kubemend/common/log.h"
#include "kubemend/common/runtime.h"
#include "src/webhook.h"

using namespace kubemend;

int main(int argc, char** argv) {
  CommonConfig common;
  common.http_listen = "0.0.0.0:8080";
  collector::WebhookConfig webhook;
  ConfigSchema schema;
  AddCommonKeys(schema, &common, "collector");
  schema.Add("webhook.path", &webhook.path, "path Alertmanager posts to");
  schema.Add("webhook.max_body_bytes", &webhook.max_body_bytes, "largest accepted body", 1024,
             64 << 20);
  schema.Add("cluster", &webhook.cluster, "cluster name put on every target");
  std::string path;
  int code = 0;
  if (!ParseArgs(argc, argv, "collector", schema, &path, &code)) {
    return code;
  }
  if (auto st = schema.Load(path, EnvFromProcess()); !st.ok()) {
    fprintf(stderr, "kubemend-collector: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  ServiceRuntime rt("collector", common);
  auto producer = rt.producer();
  if (!producer.ok()) {
    Logger("main")->error("msg=\"cannot start\" error={}", Q(std::string(producer.status().message())));
    return 2;
  }
  collector::WebhookHandler handler(&rt, *producer, webhook);
  rt.ConfigureHttp([&](httplib::Server& s) { handler.Register(s); });
  if (auto st = rt.Start(); !st.ok()) {
    Logger("main")->error("msg=\"cannot start\" error={}", Q(std::string(st.message())));
    return 1;
  }
  rt.WaitForShutdown();
  (void)(*producer)->Flush(std::chrono::seconds(5));
  return 0;
}
