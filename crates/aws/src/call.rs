//! One call to AWS as the adapters make it: paced by the adapter's rate limiter, counted,
//! and its error classified by [`port_error`] with the service's error code kept, so the
//! adapter can still read "already so" or "gone" from it. A paged listing goes through the
//! same door page by page: each page is a request, paced and counted like any other.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use dr_core::port::PortError;
use dr_core::ratelimit::TokenBucket;

use crate::error::{code, port_error};

/// A failed call: the classified error, and the service's error code that made it.
#[derive(Debug)]
pub(crate) struct CallError {
    code: Option<String>,
    error: PortError,
}

impl CallError {
    /// Classify `error`, the failure of `operation`.
    pub(crate) fn new<E>(operation: &str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        Self {
            code: code(&error).map(str::to_owned),
            error: port_error(operation, error),
        }
    }

    /// Whether the service answered with one of `codes`.
    pub(crate) fn is(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }

    /// Whether the service's message says `text` (for codes that mean several things, such
    /// as IoT's InvalidRequestException).
    pub(crate) fn says(&self, text: &str) -> bool {
        self.error.message.contains(text)
    }

    /// The operation that failed, as [`port_error`] named it.
    pub(crate) fn operation(&self) -> &str {
        &self.error.operation
    }
}

impl From<CallError> for PortError {
    fn from(failed: CallError) -> Self {
        failed.error
    }
}

/// Reading an answer that is not a failure: a create that finds the resource there, a delete
/// or describe that finds it gone.
pub(crate) trait Tolerate<T> {
    /// `Ok(None)` when the service answered with one of `codes`; any other error as the
    /// [`PortError`] it is.
    fn none_on(self, codes: &[&str]) -> Result<Option<T>, PortError>;

    /// Done, whether now or before: `codes` say "already so" (a create that finds the
    /// resource there, a delete that finds it gone).
    fn done_on(self, codes: &[&str]) -> Result<(), PortError>
    where
        Self: Sized,
    {
        self.none_on(codes).map(drop)
    }
}

impl<T> Tolerate<T> for Result<T, CallError> {
    fn none_on(self, codes: &[&str]) -> Result<Option<T>, PortError> {
        match self {
            Ok(output) => Ok(Some(output)),
            Err(e) if e.is(codes) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// The calls one adapter makes: how many, and the limiter that paces them (if any).
#[derive(Debug, Default)]
pub(crate) struct Calls {
    made: AtomicU64,
    limiter: Option<Arc<TokenBucket>>,
}

impl Calls {
    /// Pace every call with `limiter` from now on.
    pub(crate) fn pace_with(&mut self, limiter: Arc<TokenBucket>) {
        self.limiter = Some(limiter);
    }

    /// How many requests were sent.
    pub(crate) fn made(&self) -> u64 {
        self.made.load(Ordering::Relaxed)
    }

    /// Send one request: wait for the limiter's token, count it, classify its error.
    /// `request` makes the SDK's `send()` future once the token is in hand: taken as a
    /// closure, not as the future itself, because a future passed in and then awaited is
    /// held twice in this one's state, and an SDK future is kilobytes (a failover's
    /// runbook nests dozens of them on one stack).
    pub(crate) async fn send<T, E, F>(
        &self,
        operation: &str,
        request: impl FnOnce() -> F,
    ) -> Result<T, CallError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        if let Some(limiter) = &self.limiter {
            limiter.take(tokio::time::sleep).await;
        }
        self.made.fetch_add(1, Ordering::Relaxed);
        request().await.map_err(|e| CallError::new(operation, e))
    }

    /// Every item of a paged listing. `page` sends the request for one page given the
    /// marker (`None` first); `split` takes a page apart into its items and the next
    /// marker. Stops at a missing or empty marker, or one that repeats (as the SDK's
    /// paginators do: some services answer the last page with the marker they were sent).
    pub(crate) async fn pages<T, O, E, F, Fut>(
        &self,
        operation: &str,
        mut page: F,
        split: impl Fn(O) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, CallError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (items, next) = split(self.send(operation, || page(marker.clone())).await?);
            all.extend(items);
            match next {
                Some(next) if !next.is_empty() && marker.as_deref() != Some(next.as_str()) => {
                    marker = Some(next);
                }
                _ => return Ok(all),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_iot::Client;
    use aws_smithy_mocks::mock;

    use super::*;
    use crate::testing::{iot, json_error};

    #[tokio::test]
    async fn given_a_failed_call_when_sent_then_it_is_counted_and_keeps_its_code() {
        let rule = mock!(Client::describe_thing)
            .then_http_response(|| json_error(404, "ResourceNotFoundException", "no thing"));
        let client = iot(&[&rule]);
        let calls = Calls::default();

        let failed = calls
            .send("DescribeThing", || {
                client.describe_thing().thing_name("gone").send()
            })
            .await
            .unwrap_err();

        assert_eq!(calls.made(), 1);
        assert!(failed.is(&["ResourceNotFoundException"]));
        assert!(!failed.is(&["ResourceAlreadyExistsException"]));
        assert_eq!(failed.operation(), "DescribeThing");
    }

    #[tokio::test]
    async fn given_a_tolerated_code_when_read_then_none_and_any_other_code_an_error() {
        let rule = mock!(Client::describe_thing)
            .then_http_response(|| json_error(404, "ResourceNotFoundException", "no thing"));
        let client = iot(&[&rule]);
        let calls = Calls::default();
        let describe = || {
            calls.send("DescribeThing", || {
                client.describe_thing().thing_name("gone").send()
            })
        };

        let tolerated = describe().await.none_on(&["ResourceNotFoundException"]);
        let other = describe()
            .await
            .none_on(&["ResourceAlreadyExistsException"]);

        assert_eq!(tolerated.unwrap().map(drop), None);
        assert_eq!(other.unwrap_err().operation, "DescribeThing");
    }
}
