//! Every answer type of usage-api with every optional field present, kept for scripts/check_samples.py: it
//! checks each against docs/openapi.yaml's schema of the same name both ways (valid there, and every
//! documented property present), so the document and the types cannot drift apart.
use entitle_core::api_error::ApiError;
use entitle_domain::entitlements::{
    AddonGrant, Entitlements, OtherSubscription, ScheduledPlan, Status,
};
use entitle_domain::ids::SubjectId;
use entitle_domain::plans::{Limit, PlanCatalog};
use entitle_domain::time::UnixTime;
use entitle_domain::usage::answer::Decided;
use entitle_domain::usage::decision::Allowance;
use entitle_domain::usage::{Decision, LimitKind, Period, Reason, UsageReport};
use serde::Serialize;

fn keep(schema: &str, body: &impl Serialize) -> serde_json::Value {
    let value = serde_json::to_value(body).unwrap();
    if let Some(dir) = entitle_test_support::fixtures::samples_dir("types") {
        let sample = serde_json::json!({"schema": schema, "body": value});
        std::fs::write(dir.join(format!("usage-{schema}.json")), sample.to_string()).unwrap();
    }
    value
}

#[test]
fn every_answer_type_is_kept_with_every_optional_field_for_the_document_check() {
    let user = SubjectId::parse("user_2abcDEFghiJKLmnoPQRstuVWxyz").unwrap();
    let at = "2026-12-31T00:00:00Z".to_owned();
    let decision = Decision {
        allowed: false,
        reason: Some(Reason::LimitExceeded),
        used: 40,
        held: 2,
        remaining: Some(0),
        overage: 3,
    };
    let decided = Decided {
        user: &user,
        feature: "messages_per_month",
        kind: Some(LimitKind::Metered(Period::Month)),
        plan: "pro",
        allowance: Allowance {
            limit: Limit::Finite(40),
            in_plan: true,
            overage: true,
        },
        decision: &decision,
        resets_at: Some(UnixTime::from_secs(1_795_341_600)),
    };
    let member = entitle_domain::usage::MemberUsage {
        held: 1,
        limit: 25,
        member_id: entitle_domain::ids::UserId::parse("user_2member").unwrap(),
        remaining: 0,
        used: 25,
    };
    let mut answer = decided.answer();
    answer.usage_id = Some("u_abc".into());
    answer.member = Some(member.clone());
    let kept = keep("Decision", &answer);
    for key in ["reason", "usageId", "overage", "member"] {
        assert!(kept.get(key).is_some(), "{key} is kept: {kept}");
    }
    let mut line = decided.line(5);
    line.member = Some(member);
    let report = UsageReport {
        plan: "pro".into(),
        usage: vec![line],
        user_id: user.clone(),
    };
    assert_eq!(keep("UsageList", &report)["usage"][0]["overage"], 5);
    let mut e = Entitlements::free(user.clone(), PlanCatalog::builtin());
    e.period_end = Some(at.clone());
    e.grace_until = Some(at.clone());
    e.subscription_id = Some("sub_1".into());
    e.past_due_since = Some(at.clone());
    e.trial_end = Some(at.clone());
    e.addons = vec![AddonGrant {
        plan: "team_pack".into(),
        quantity: 2,
        subscription_id: "sub_2".into(),
        until: Some(at.clone()),
    }];
    e.other_subscriptions = vec![OtherSubscription {
        subscription_id: "sub_3".into(),
        plan: "starter".into(),
        status: Status::Active,
    }];
    e.scheduled_change = Some(ScheduledPlan {
        plan: Some("starter".into()),
        price: "price_starter".into(),
        at: at.clone(),
    });
    e.updated_at = Some(at);
    // As GET /v1/entitlements answers it: with the words of what it grants.
    let answer = keep("Entitlements", &PlanCatalog::builtin().with_words(e));
    assert_eq!(answer["addons"][0]["quantity"], 2);
    assert_eq!(answer["words"]["features"]["agents"], "AI agents");
    let error: serde_json::Value = serde_json::from_str(
        &ApiError::bad_request("invalid_amount", "`amount` must not be 0").to_json(),
    )
    .unwrap();
    assert_eq!(keep("Error", &error)["error"]["code"], "invalid_amount");
}
