//! The control API's server side: outages, counts and IAM worlds of a running proxy, for
//! [`super::control::ProxyClient`] in another process.

use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::answers::Answer;
use super::control::CONTROL_PREFIX;
use super::outage::OutageChange;
use super::state::{lock, register_world, set_outage, Control};
use crate::iam::WorldExport;

/// The control API (see [`super::control`] for its client).
pub(super) fn control_answer(
    method: &str,
    path: &str,
    body: &[u8],
    control: &Mutex<Control>,
) -> Answer {
    let json = |status: StatusCode, value: serde_json::Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(value.to_string())))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    };
    let bad = |message: String| {
        json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": message }),
        )
    };
    match (method, path) {
        ("GET", "health") => json(StatusCode::OK, serde_json::json!({"ok": true})),
        ("GET", "counts") => json(
            StatusCode::OK,
            serde_json::to_value(&lock(control).counts).unwrap_or_default(),
        ),
        ("GET", "outages") => {
            let outages: Vec<OutageChange> = lock(control)
                .outages
                .iter()
                .map(|(scope, mode)| OutageChange {
                    scope: scope.clone(),
                    outage: Some(*mode),
                })
                .collect();
            json(
                StatusCode::OK,
                serde_json::to_value(outages).unwrap_or_default(),
            )
        }
        ("PUT", "outage") => match serde_json::from_slice::<OutageChange>(body) {
            Ok(change) => {
                set_outage(&mut lock(control), change.scope, change.outage);
                json(StatusCode::OK, serde_json::json!({"ok": true}))
            }
            Err(e) => bad(format!("an outage change: {e}")),
        },
        ("GET", "iam/denials") => json(
            StatusCode::OK,
            serde_json::json!(lock(control)
                .iam
                .as_ref()
                .map(|i| i.denials().to_vec())
                .unwrap_or_default()),
        ),
        ("PUT", world) if world.starts_with("iam/worlds/") => {
            let name = &world["iam/worlds/".len()..];
            match serde_json::from_slice::<WorldExport>(body) {
                Ok(export) => match register_world(&mut lock(control), name, &export) {
                    Ok((roles, registration)) => json(
                        StatusCode::OK,
                        serde_json::json!({ "roles": roles, "outcome": registration.as_str() }),
                    ),
                    Err(e) => bad(e),
                },
                Err(e) => bad(format!("a world export: {e}")),
            }
        }
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": format!("no control {method} {CONTROL_PREFIX}{path}")}),
        ),
    }
}
