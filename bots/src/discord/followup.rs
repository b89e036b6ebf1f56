//! serenity's raw follow-up routes with builders (create and edit a follow-up message of an
//! interaction by its token).

use std::sync::Arc;

use serenity::all::{CreateInteractionResponseFollowup, Http, MessageId as DMessageId};
use serenity::builder::Builder;

/// Extension helpers over serenity's raw follow-up routes with builders.
pub(super) trait FollowupExt {
    async fn create_followup_message_with(
        &self,
        token: &str,
        m: CreateInteractionResponseFollowup,
    ) -> Result<DMessageId, serenity::Error>;
    async fn edit_followup_message_with(
        &self,
        token: &str,
        id: DMessageId,
        m: CreateInteractionResponseFollowup,
    ) -> Result<(), serenity::Error>;
}

impl FollowupExt for Arc<Http> {
    async fn create_followup_message_with(
        &self,
        token: &str,
        m: CreateInteractionResponseFollowup,
    ) -> Result<DMessageId, serenity::Error> {
        Ok(m.execute(self, (None, token)).await?.id)
    }

    async fn edit_followup_message_with(
        &self,
        token: &str,
        id: DMessageId,
        m: CreateInteractionResponseFollowup,
    ) -> Result<(), serenity::Error> {
        m.execute(self, (Some(id), token)).await.map(|_| ())
    }
}
