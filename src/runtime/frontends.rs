//! The front-end registry: one adapter per platform, and immediate (non-durable) replies.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::chat::{ChatRef, FrontEnd, MessageId, Outbound, Platform, SendError};

/// The attached front ends.
#[derive(Default)]
pub(crate) struct FrontEnds {
    by_platform: RwLock<HashMap<Platform, Arc<dyn FrontEnd>>>,
}

impl FrontEnds {
    pub fn attach(&self, frontend: Arc<dyn FrontEnd>) {
        self.by_platform.write().insert(frontend.platform(), frontend);
    }

    pub fn get(&self, platform: Platform) -> Option<Arc<dyn FrontEnd>> {
        self.by_platform.read().get(&platform).cloned()
    }

    /// Sends a reply that is not worth an outbox entry, retrying transient failures a few
    /// times; `None` when it could not be sent.
    pub async fn send(&self, chat: &ChatRef, message: Outbound) -> Option<MessageId> {
        let frontend = self.get(chat.platform)?;
        for attempt in 0..3u32 {
            match frontend.send(chat, message.clone()).await {
                Ok(id) => return id,
                Err(SendError::Transient { retry_after, detail }) => {
                    tracing::debug!(%detail, attempt, "reply failed, retrying");
                    let wait = retry_after.unwrap_or(Duration::from_millis(200 << attempt));
                    tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
                }
                Err(SendError::Permanent(reason)) => {
                    tracing::info!(%reason, "reply not possible");
                    return None;
                }
            }
        }
        None
    }

    pub async fn say(&self, chat: &ChatRef, text: String) -> Option<MessageId> {
        let message = Outbound::Text {
            text,
            buttons: Vec::new(),
        };
        self.send(chat, message).await
    }
}
