// kubemendctl against a real audit admin API: an in-process ServiceRuntime
// serving kubemend.v1.AuditAdmin with token auth, over a trail in a fresh
// PostgreSQL database (KUBEMEND_TEST_PG_DSN).
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "admin_service.h"
#include "cli.h"
#include "kubemend/common/events.h"
#include "kubemend/common/ids.h"
#include "kubemend/common/runtime.h"
#include "store.h"

namespace kubemend::ctl {
namespace {

struct Result {
  int code;
  std::string out, err;
};

class KubemendctlAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("KUBEMEND_TEST_PG_DSN");
    if (!base) {
      FAIL() << "KUBEMEND_TEST_PG_DSN is not set; run the tests through ./kubemend test";
    }
    std::string db = "ctl_" + NewUuid().substr(0, 8);
    pqxx::connection admin(base);
    pqxx::nontransaction(admin).exec("CREATE DATABASE " + db);
    dsn_ = std::string(base) + " dbname=" + db;
    audit::PgAuditStore store(dsn_);
    ASSERT_TRUE(store.Open(KUBEMEND_MIGRATIONS_DIR).ok());
    ASSERT_TRUE(store.Append(Chain()).ok());

    CommonConfig cfg;
    cfg.grpc_listen = "127.0.0.1:0";
    cfg.http_listen = "127.0.0.1:0";
    cfg.admin.tokens = {"viewer:vic:viewer-token", "operator:olga:operator-token"};
    cfg.admin.publish_denials = false;
    rt_ = std::make_unique<ServiceRuntime>("audit", cfg);
    service_ = std::make_unique<audit::AuditAdminService>(dsn_, "kubemend_reader",
                                                          std::chrono::milliseconds(20));
    rt_->AddGrpcService(service_.get());
    ASSERT_TRUE(rt_->Start().ok());
    addr_ = "127.0.0.1:" + std::to_string(rt_->grpc_port());
  }
  void TearDown() override {
    if (service_) {
      service_->Stop();
    }
  }

  // One incident: signal -> proposal -> decision (approved by a human) -> outcome.
  audit::Rows Chain() {
    FakeClock clock;
    ProducerIdentity who{"collector", "c-1", "0.1.0"};
    v1::Event s = NewRootEvent(v1::EVENT_TYPE_SIGNAL, who, clock);
    s.set_incident_id("inc-42");
    s.mutable_target()->set_namespace_("shop");
    s.mutable_target()->set_kind("Deployment");
    s.mutable_target()->set_name("api");
    s.mutable_signal()->set_name("KubePodCrashLooping");
    s.mutable_signal()->set_status(v1::SIGNAL_STATUS_FIRING);
    v1::Event p = NewCausedEvent(v1::EVENT_TYPE_PROPOSAL, s, "p", who, clock);
    p.mutable_proposal()->mutable_action()->set_type(v1::ACTION_TYPE_INCREASE_MEMORY);
    p.mutable_proposal()->mutable_policy()->set_name("oom-memory");
    v1::Event d = NewCausedEvent(v1::EVENT_TYPE_DECISION, p, "d", who, clock);
    d.mutable_decision()->set_verdict(v1::VERDICT_APPROVED);
    d.mutable_decision()->set_approver("alice");
    d.mutable_decision()->set_reason("looks right");
    *d.mutable_decision()->mutable_proposal() = p.proposal();
    v1::Event o = NewCausedEvent(v1::EVENT_TYPE_OUTCOME, d, "o", who, clock);
    o.mutable_outcome()->set_decision_id(d.event_id());
    o.mutable_outcome()->set_status(v1::OUTCOME_STATUS_SUCCEEDED);
    *o.mutable_outcome()->mutable_action() = p.proposal().action();
    auto* ch = o.mutable_outcome()->add_changes();
    ch->set_path("resources.limits.memory");
    ch->set_before("256Mi");
    ch->set_after("320Mi");
    std::vector<InMessage> batch;
    int off = 0;
    for (const auto* e : {&s, &p, &d, &o}) {
      batch.push_back({"kubemend.x", 0, off++, "k", e->SerializeAsString(), 0});
    }
    return audit::RowsFromBatch(batch, "kubemend.deadletter", "2026-01-01 00:00:00+00");
  }

  Result Ctl(std::vector<std::string> args, const std::string& token = "viewer-token") {
    args.insert(args.begin(), "kubemendctl");
    args.push_back("--endpoint");
    args.push_back("audit=" + addr_);
    std::map<std::string, std::string> env;
    if (!token.empty()) {
      env["KUBEMENDCTL_TOKEN"] = token;
    }
    std::ostringstream out, err;
    int code = kubemend::ctl::Run(args, env, out, err);
    return {code, out.str(), err.str()};
  }

  std::string dsn_;
  std::string addr_;
  std::unique_ptr<ServiceRuntime> rt_;
  std::unique_ptr<audit::AuditAdminService> service_;
};

TEST_F(KubemendctlAuditTest, StatusShowsTheServiceAndNeedsAToken) {
  // The runtime reports SERVING from its health thread shortly after Start().
  Result r = Ctl({"status"});
  for (int i = 0; i < 50 && r.code == kUnavailable; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = Ctl({"status"});
  }
  EXPECT_NE(r.out.find("audit"), std::string::npos);
  EXPECT_NE(r.out.find("serving"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.code, 0) << r.err;
  Result j = Ctl({"status", "-o", "json"});
  EXPECT_NE(j.out.find("\"instance\""), std::string::npos) << j.out;
  Result anon = Ctl({"status"}, "");
  EXPECT_EQ(anon.code, kDenied);
  EXPECT_NE(anon.err.find("Bearer"), std::string::npos) << anon.err;
}

TEST_F(KubemendctlAuditTest, VerifyQueryAndIncidents) {
  Result v = Ctl({"audit", "verify"});
  EXPECT_EQ(v.code, 0) << v.err;
  EXPECT_NE(v.out.find("chain ok: 4 rows verified"), std::string::npos) << v.out;

  Result q = Ctl({"audit", "query", "--namespace", "shop", "--type", "outcome"});
  EXPECT_EQ(q.code, 0) << q.err;
  EXPECT_NE(q.out.find("IncreaseMemory succeeded"), std::string::npos) << q.out;
  EXPECT_EQ(q.out.find("KubePodCrashLooping"), std::string::npos) << "filtered by type";

  Result l = Ctl({"incidents", "list"});
  EXPECT_EQ(l.code, 0) << l.err;
  EXPECT_NE(l.out.find("inc-42"), std::string::npos);
  EXPECT_NE(l.out.find("resolved"), std::string::npos) << l.out;

  Result s = Ctl({"incidents", "show", "inc-42", "-o", "json"});
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("\"KubePodCrashLooping\""), std::string::npos);
  EXPECT_EQ(Ctl({"incidents", "show", "nope"}).code, kError);

  Result a = Ctl({"actions", "list", "--namespace", "shop"});
  EXPECT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.out.find("256Mi -> 320Mi"), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("alice"), std::string::npos);

  Result t = Ctl({"audit", "tail", "--after-seq", "2", "--count", "2"});
  EXPECT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("\n3  "), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("\n4  "), std::string::npos) << t.out;
}

// --since is a bigint bound on PostgreSQL (it used to fail: "out of range for
// type integer"), -n filters, -ojson and -o yaml print the same incident.
TEST_F(KubemendctlAuditTest, SinceNamespaceAndOutputFormatsAgainstPostgres) {
  for (std::vector<std::string> cmd : {std::vector<std::string>{"incidents", "list", "--since", "1h"},
                                       {"actions", "list", "--since", "1h"},
                                       {"audit", "query", "--since", "7d"}}) {
    Result r = Ctl(cmd);
    EXPECT_EQ(r.code, 0) << cmd[0] << ": " << r.err;
    EXPECT_EQ(r.err.find("out of range"), std::string::npos) << r.err;
  }
  Result all = Ctl({"incidents", "list", "--since", "36500d", "-n", "shop"});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_NE(all.out.find("inc-42"), std::string::npos) << all.out;
  Result other = Ctl({"incidents", "list", "-n", "payments"});
  EXPECT_EQ(other.code, 0) << other.err;
  EXPECT_EQ(other.out.find("inc-42"), std::string::npos) << other.out;
  EXPECT_EQ(Ctl({"actions", "list", "-npayments"}).out.find("256Mi"), std::string::npos);
  Result j = Ctl({"incidents", "show", "inc-42", "-ojson"});
  EXPECT_EQ(j.code, 0) << j.err;
  EXPECT_NE(j.out.find("\"incident_id\": \"inc-42\""), std::string::npos) << j.out;
  Result y = Ctl({"incidents", "show", "inc-42", "-o", "yaml"});
  EXPECT_EQ(y.code, 0) << y.err;
  EXPECT_NE(y.out.find("incident_id: inc-42"), std::string::npos) << y.out;
  Result w = Ctl({"audit", "query", "-o", "wide", "--timeout", "5s"});
  EXPECT_EQ(w.code, 0) << w.err;
  EXPECT_NE(w.out.find("inc-42"), std::string::npos) << w.out;
}

TEST_F(KubemendctlAuditTest, VerifyNamesATamperedRowAndExitsOne) {
  {
    pqxx::connection c(dsn_);
    pqxx::work w(c);
    w.exec("SET session_replication_role = replica");
    w.exec("UPDATE audit_events SET verdict = 'rejected' WHERE seq = 3");
    w.commit();
  }
  Result v = Ctl({"audit", "verify"});
  EXPECT_EQ(v.code, kError);
  EXPECT_NE(v.out.find("CHAIN BROKEN at seq 3"), std::string::npos) << v.out;
}

TEST_F(KubemendctlAuditTest, UnauthenticatedAndDeniedExitThree) {
  Result none = Ctl({"audit", "verify"}, "");
  EXPECT_EQ(none.code, kDenied);
  Result bad = Ctl({"audit", "query"}, "guess");
  EXPECT_EQ(bad.code, kDenied);
  EXPECT_NE(bad.err.find("unknown token"), std::string::npos) << bad.err;
  // A viewer on a method only operators may call.
  RegisterMethodRole("/kubemend.v1.AuditAdmin/VerifyChain", AdminRole::kOperator);
  Result denied = Ctl({"audit", "verify"}, "viewer-token");
  Result allowed = Ctl({"audit", "verify"}, "operator-token");
  RegisterMethodRole("/kubemend.v1.AuditAdmin/VerifyChain", AdminRole::kViewer);
  EXPECT_EQ(denied.code, kDenied);
  EXPECT_NE(denied.err.find("needs role operator"), std::string::npos) << denied.err;
  EXPECT_EQ(allowed.code, 0) << allowed.err;
}

}  // namespace
}  // namespace kubemend::ctl
