//! The adapter's failures, each classified in one place: REST errors for the core's retry
//! rules (and the two cases the adapter handles itself: an expired interaction token, a thread
//! that cannot be made). Download failures are [`crate::download::DownloadError`].

use std::time::Duration;

use headshot::SendError;

/// A serenity failure in the core's terms.
pub fn classify(e: &serenity::Error) -> SendError {
    use serenity::http::HttpError;
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            let detail = format!("{status} {} {}", r.error.code, r.error.message);
            match status {
                // serenity keeps neither the Retry-After header nor retry_after of a 429 (its own
                // rate limiter, on in production, waits for them); wait a bucket's usual reset.
                429 => SendError::Transient {
                    retry_after: Some(Duration::from_secs(1)),
                    detail,
                },
                500..=599 | 408 => SendError::Transient {
                    retry_after: None,
                    detail,
                },
                _ => SendError::Permanent(detail),
            }
        }
        serenity::Error::Http(HttpError::Request(_)) | serenity::Error::Io(_) => SendError::Transient {
            retry_after: None,
            detail: e.to_string(),
        },
        other => SendError::Permanent(other.to_string()),
    }
}

/// An interaction token that stopped working (expired or unknown): fall back to the channel.
pub(super) fn token_gone(e: &serenity::Error) -> bool {
    use serenity::http::HttpError;
    matches!(e, serenity::Error::Http(HttpError::UnsuccessfulRequest(r))
        if matches!(r.error.code, 50027 | 10015 | 10062) || r.status_code.as_u16() == 401)
}

/// Thread creation refused (permissions, DM channel, limits).
pub(super) fn cannot_thread(e: &serenity::Error) -> bool {
    use serenity::http::HttpError;
    matches!(e, serenity::Error::Http(HttpError::UnsuccessfulRequest(r))
        if matches!(r.status_code.as_u16(), 400 | 403 | 404))
}
