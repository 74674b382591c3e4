//! Harness pieces shared by the sandbox tests and the benchmarks.

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use dr_core::replication::service::{apply_batch, BatchReport, Delivery};
use dr_core::replication::{ApplyLedger, ArnRewrite, DeviceRegistry};

/// Lambda's SQS event source mapping, played by the harness: receive up to ten messages,
/// hand them to the replicator's use case, delete the successes with one
/// DeleteMessageBatch, and — unlike Lambda, which waits out the visibility timeout — make
/// the failures visible again at once. Returns `None` when the queue gave nothing.
pub async fn deliver_batch<R, L>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    rewrite: &ArnRewrite,
    dr: &R,
    ledger: &L,
) -> Option<BatchReport>
where
    R: DeviceRegistry + Sync,
    L: ApplyLedger + Sync,
{
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .expect("ReceiveMessage");
    let messages = received.messages();
    if messages.is_empty() {
        return None;
    }
    let groups: Vec<Option<String>> = messages
        .iter()
        .map(|m| {
            m.attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                .cloned()
        })
        .collect();
    let deliveries: Vec<Delivery<'_>> = messages
        .iter()
        .zip(&groups)
        .map(|(m, group)| Delivery {
            message_id: m.message_id().unwrap_or_default(),
            group: group.as_deref(),
            body: m.body().unwrap_or_default(),
        })
        .collect();
    let report = apply_batch(&deliveries, rewrite, dr, ledger, dr_core::time::now_millis).await;

    let failed = |m: &aws_sdk_sqs::types::Message| {
        report
            .failed
            .iter()
            .any(|f| Some(f.as_str()) == m.message_id())
    };
    let successes: Vec<_> = messages
        .iter()
        .filter(|m| !failed(m))
        .enumerate()
        .map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .expect("id and receipt handle are set")
        })
        .collect();
    if !successes.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(successes))
            .send()
            .await
            .expect("DeleteMessageBatch");
    }
    for message in messages.iter().filter(|m| failed(m)) {
        sqs.change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(message.receipt_handle().unwrap_or_default())
            .visibility_timeout(0)
            .send()
            .await
            .expect("ChangeMessageVisibility");
    }
    Some(report)
}

/// A deterministic Fisher–Yates shuffle (xorshift), so a failing seed replays exactly.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

/// The committed sandbox topology pointed at `endpoint` (a benchmark's own sandbox).
pub fn sandbox_topology(endpoint: &str) -> dr_core::Topology {
    dr_core::Topology::parse(
        include_str!("../config/sandbox.toml"),
        "config/sandbox.toml",
        [("DRCTL__SANDBOX__ENDPOINT".to_owned(), endpoint.to_owned())],
    )
    .expect("the committed sandbox config is valid")
}

/// The URL of the queue named `queue_name` (e.g. `dr_aws::names::replication_queue_name`).
pub async fn queue_url(sqs: &aws_sdk_sqs::Client, queue_name: &str) -> String {
    sqs.get_queue_url()
        .queue_name(queue_name)
        .send()
        .await
        .expect("GetQueueUrl (is the sandbox provisioned?)")
        .queue_url()
        .expect("a queue URL")
        .to_owned()
}
