// The one Prometheus client (kubemend/common/prometheus.h) against a local
// HTTP server answering like the Prometheus API (bodies as Prometheus 2.42
// writes them), under a path prefix.
#include "kubemend/common/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>

#include "fake_prometheus.h"

namespace kubemend {
namespace {

using testing::FakePrometheus;

TEST(PrometheusClientTest, InstantQueryVectorAndScalarUnderAPathPrefix) {
  FakePrometheus p;
  PrometheusClient c(p.url() + "/", Millis(2000));  // a trailing '/' is dropped
  EXPECT_EQ(c.base_url(), p.origin() + "/prom");
  p.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[
    {"metric":{"__name__":"up","job":"kube"},"value":[1767225600.5,"1"]},
    {"metric":{"job":"nan"},"value":[1767225600.5,"NaN"]},
    {"metric":{"job":"inf"},"value":[1767225600.5,"+Inf"]},
    {"metric":{"job":"-inf"},"value":[1767225600.5,"-Inf"]},
    {"metric":{"job":"exp"},"value":[1767225600.5,"1.5e-07"]}]}})");
  auto v = c.Query("up", TimePoint(Millis(1767225600250)));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(p.last().path, "/prom/api/v1/query");
  EXPECT_EQ(p.last().get_param_value("query"), "up");
  EXPECT_EQ(p.last().get_param_value("time"), "1767225600.250");
  ASSERT_EQ(v->size(), 5u);
  EXPECT_EQ((*v)[0].labels.at("__name__"), "up");
  EXPECT_EQ((*v)[0].labels.at("job"), "kube");
  EXPECT_EQ((*v)[0].value, 1);
  EXPECT_EQ(ToUnixMillis((*v)[0].at), 1767225600500);
  EXPECT_TRUE(std::isnan((*v)[1].value));
  EXPECT_EQ((*v)[2].value, INFINITY);
  EXPECT_EQ((*v)[3].value, -INFINITY);
  EXPECT_DOUBLE_EQ((*v)[4].value, 1.5e-07);

  p.Answer(200, R"({"status":"success","data":{"resultType":"scalar","result":[1767225600,"42"]}})");
  v = c.Query("scalar(vector(42))");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 1u);
  EXPECT_TRUE((*v)[0].labels.empty());
  EXPECT_EQ((*v)[0].value, 42);
  EXPECT_FALSE(p.last().has_param("time")) << "no time: Prometheus' now";

  p.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  v = c.Query("absent_metric");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->empty());
}

TEST(PrometheusClientTest, RangeQueryMatrix) {
  FakePrometheus p;
  PrometheusClient c(p.url(), Millis(2000));
  p.Answer(200, R"({"status":"success","data":{"resultType":"matrix","result":[
    {"metric":{"pod":"a"},"values":[[1767225600,"1"],[1767225660.5,"2.5"],[1767225720,"NaN"]]},
    {"metric":{"pod":"b"},"values":[]}]}})");
  auto r = c.QueryRange("rate(x[5m])", TimePoint(Millis(1767225600000)), TimePoint(Millis(1767225720000)),
                        Millis(60000));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(p.last().path, "/prom/api/v1/query_range");
  EXPECT_EQ(p.last().get_param_value("query"), "rate(x[5m])");
  EXPECT_EQ(p.last().get_param_value("start"), "1767225600.000");
  EXPECT_EQ(p.last().get_param_value("end"), "1767225720.000");
  EXPECT_EQ(p.last().get_param_value("step"), "60.000");
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].labels.at("pod"), "a");
  ASSERT_EQ((*r)[0].points.size(), 3u);
  EXPECT_EQ(ToUnixMillis((*r)[0].points[1].first), 1767225660500);
  EXPECT_EQ((*r)[0].points[1].second, 2.5);
  EXPECT_TRUE(std::isnan((*r)[0].points[2].second));
  EXPECT_TRUE((*r)[1].points.empty());
  // A vector where a matrix belongs is not the documented answer.
  p.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  EXPECT_EQ(c.QueryRange("x", TimePoint(), TimePoint(), Millis(1000)).status().code(), absl::StatusCode::kDataLoss);
}

TEST(PrometheusClientTest, ErrorStatusesCarryPrometheusMessage) {
  FakePrometheus p;
  PrometheusClient c(p.url(), Millis(2000));
  // 400 bad_data: a parse error, Prometheus' text kept.
  p.Answer(400, R"({"status":"error","errorType":"bad_data","error":"1:4: parse error: unexpected end of input"})");
  auto v = c.Query("up{");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("unexpected end of input"), std::string::npos) << v.status();
  // 422 execution: the query parses but cannot run.
  p.Answer(422, R"({"status":"error","errorType":"execution","error":"found duplicate series for the match group"})");
  v = c.Query("a * on (x) b");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("duplicate series"), std::string::npos) << v.status();
  // 503 with the API's envelope (timeout), and without (a proxy's page).
  p.Answer(503, R"({"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"})");
  v = c.Query("up");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(v.status().message().find("query timed out"), std::string::npos) << v.status();
  p.Answer(503, R"({"status":"error","errorType":"unavailable","error":"too many concurrent queries"})");
  v = c.Query("up");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(v.status().message().find("too many concurrent queries"), std::string::npos) << v.status();
  p.Answer(503, "Service Unavailable");
  v = c.Query("up");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(v.status().message().find("HTTP 503"), std::string::npos) << v.status();
  p.Answer(403, "forbidden");
  EXPECT_EQ(c.Query("up").status().code(), absl::StatusCode::kPermissionDenied);
  // Malformed answers.
  for (const char* body : {"<html>", R"({"status":"success"})", R"({"status":"success","data":{"resultType":
      "vector","result":[{"metric":{},"value":[1,"abc"]}]}})", R"({"status":"success","data":{"resultType":"string",
      "result":[1,"x"]}})", R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}})"}) {
    p.Answer(200, body);
    EXPECT_EQ(c.Query("up").status().code(), absl::StatusCode::kDataLoss) << body;
  }
}

TEST(PrometheusClientTest, WrongPrefixUnreachableAndSlowServer) {
  FakePrometheus p;
  p.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  // No prefix: httplib's 404 for /api/v1/query, named as such.
  auto v = PrometheusClient(p.origin(), Millis(2000)).Query("up");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(v.status().message().find("path prefix"), std::string::npos) << v.status();
  // Nothing listens on port 1.
  v = PrometheusClient("http://127.0.0.1:1", Millis(500)).Query("up");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(v.status().message().find("unreachable"), std::string::npos) << v.status();
  // An answer slower than the client's timeout.
  p.Answer(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})", Millis(1500));
  v = PrometheusClient(p.url(), Millis(300)).Query("up");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDeadlineExceeded) << v.status();
}

}  // namespace
}  // namespace kubemend
