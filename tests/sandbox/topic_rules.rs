//! `drctl readiness`'s "topic rules in DR" under the operators' role, IAM enforced: the
//! application's alert path (a rule, its queue, its role) as DR must hold it.

use aws_sdk_iot::types::{Action, RepublishAction, SqsAction, TopicRulePayload};
use dr_core::{Side, Topology};

use crate::cli::readiness_check;
use crate::pipeline::Pipeline;

const CHECK: &str = "topic rules in DR";
const QUEUE: &str = "clinician-alerts";
const ROLE: &str = "alerts-to-queue";

/// The application's two rules as it writes them for `side`: alerts to a queue, and
/// "wearable offline" (a lifecycle event) republished to clinicians, both with a role.
async fn deploy_rules(p: &Pipeline, side: Side) {
    let t: &Topology = &p.topology;
    let (account, region) = (&t.side(side).account_id, &t.side(side).region);
    let role = format!("arn:aws:iam::{account}:role/{ROLE}");
    let queue = format!("https://sqs.{region}.amazonaws.com/{account}/{QUEUE}");
    let iot = p.session.iot(side);
    for (name, sql, action) in [
        (
            "alerts_to_queue",
            "SELECT * FROM 'wearables/+/alerts'",
            Action::builder()
                .sqs(
                    SqsAction::builder()
                        .queue_url(&queue)
                        .role_arn(&role)
                        .build()
                        .unwrap(),
                )
                .build(),
        ),
        (
            "wearable_offline",
            "SELECT * FROM '$aws/events/presence/disconnected/+'",
            Action::builder()
                .republish(
                    RepublishAction::builder()
                        .topic("clinicians/offline")
                        .role_arn(&role)
                        .build()
                        .unwrap(),
                )
                .build(),
        ),
    ] {
        iot.create_topic_rule()
            .rule_name(name)
            .topic_rule_payload(
                TopicRulePayload::builder()
                    .sql(sql)
                    .aws_iot_sql_version("2016-03-23")
                    .rule_disabled(false)
                    .actions(action)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn readiness_fails_a_rule_or_its_queue_missing_in_dr_and_warns_of_a_rule_only_dr_has() {
    // Its own sandbox: the check reads every topic rule of both accounts.
    let log = std::env::temp_dir().join(format!("{}.log", crate::helpers::unique("rules")));
    let server = dr_sandbox::SandboxServer::start(&dr_sandbox::LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let p = Pipeline::on(server.endpoint()).await;
    let t = &p.topology;

    // Given no application rule anywhere, the check passes with nothing to compare.
    let (kind, detail) = readiness_check(t, CHECK).await;
    assert_eq!(kind, "ok", "{detail}");
    assert!(detail.contains("0 rule(s) of primary"), "{detail}");

    // Given the application's rules in primary and none in DR, readiness fails naming them.
    deploy_rules(&p, Side::Primary).await;
    let (kind, detail) = readiness_check(t, CHECK).await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains("rule alerts_to_queue missing in DR")
            && detail.contains("rule wearable_offline missing in DR"),
        "{detail}"
    );
    // What each needs in DR is named too, with DR's account.
    assert!(
        detail.contains(&format!(
            "queue {QUEUE} (account {}) missing in DR (used by alerts_to_queue)",
            t.dr.account_id
        )),
        "{detail}"
    );
    assert!(detail.contains("1 on lifecycle events"), "{detail}");

    // Given the same rules in DR with DR's ARNs and DR's role, but no queue: it names the queue.
    p.session
        .iam(Side::Dr)
        .create_role()
        .role_name(ROLE)
        .assume_role_policy_document(
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    deploy_rules(&p, Side::Dr).await;
    let (kind, detail) = readiness_check(t, CHECK).await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains(&format!("queue {QUEUE} (account {})", t.dr.account_id))
            && detail.contains("missing in DR (used by alerts_to_queue)"),
        "{detail}"
    );
    assert!(!detail.contains("rule alerts_to_queue missing"), "{detail}");
    assert!(
        !detail.contains(&format!("role/{ROLE} missing")),
        "{detail}"
    );

    // Given the queue in DR too, the alert path is in place.
    p.session
        .sqs(Side::Dr)
        .create_queue()
        .queue_name(QUEUE)
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, CHECK).await;
    assert_eq!(kind, "ok", "{detail}");
    assert!(
        detail.contains("2 rule(s) of primary (1 on lifecycle events) in DR as in primary"),
        "{detail}"
    );

    // A rule only DR has is reported, not failed.
    p.session
        .iot(Side::Dr)
        .create_topic_rule()
        .rule_name("dr_only")
        .topic_rule_payload(
            TopicRulePayload::builder()
                .sql("SELECT * FROM 'dr/only'")
                .actions(
                    Action::builder()
                        .republish(
                            RepublishAction::builder()
                                .topic("elsewhere")
                                .role_arn(format!("arn:aws:iam::{}:role/{ROLE}", t.dr.account_id))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, CHECK).await;
    assert_eq!(kind, "warn", "{detail}");
    assert!(detail.contains("only in DR: dr_only"), "{detail}");

    // DR's role no longer trusts IoT (say, edited for Lambda): IoT cannot act with it.
    p.session
        .iam(Side::Dr)
        .update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, CHECK).await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains(&format!(
            "role arn:aws:iam::{}:role/{ROLE} in DR: its trust policy does not let iot.amazonaws.com",
            t.dr.account_id
        )) && detail.contains("used by alerts_to_queue, wearable_offline"),
        "{detail}"
    );

    // DR's rule disabled by hand: alerts would be dropped there; named, failed.
    p.session
        .iot(Side::Dr)
        .disable_topic_rule()
        .rule_name("alerts_to_queue")
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, CHECK).await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains("rule alerts_to_queue: disabled in DR, enabled in primary"),
        "{detail}"
    );
}
