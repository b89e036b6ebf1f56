//! Telegram failures, classified in one place: the outbox's retry rule for every Bot API error
//! and the wait before retrying a call. Teloxide reports known API errors as variants; an
//! unknown one carries only Telegram's description, whose prefix ("Bad Request", "Forbidden",
//! ...) is the HTTP status Telegram sent, so that prefix is what is read.

use std::time::Duration;

use headshot::SendError;
use teloxide::{ApiError, RequestError};

/// Maps a teloxide failure to the outbox's notion of retryable.
pub fn classify(error: RequestError) -> SendError {
    let detail = error.to_string();
    match error {
        RequestError::RetryAfter(after) => SendError::Transient {
            retry_after: Some(after.duration()),
            detail,
        },
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => {
            SendError::Transient {
                retry_after: None,
                detail,
            }
        }
        RequestError::MigrateToChatId(_) => SendError::Permanent(detail),
        RequestError::Api(ApiError::Unknown(description)) => {
            let permanent = ["Bad Request", "Forbidden", "Unauthorized", "Not Found"]
                .iter()
                .any(|p| description.starts_with(p));
            if permanent {
                SendError::Permanent(description)
            } else {
                // 5xx and anything unrecognised: retrying may help.
                SendError::Transient {
                    retry_after: None,
                    detail: description,
                }
            }
        }
        // Known API errors (blocked, chat not found, user deactivated, kicked, ...).
        RequestError::Api(_) => SendError::Permanent(detail),
    }
}

/// How long to wait before retrying a callback answer or start-up call after a failure.
pub(crate) fn backoff(error: &RequestError) -> Duration {
    match error {
        RequestError::RetryAfter(after) => after.duration(),
        _ => Duration::from_millis(500),
    }
}
